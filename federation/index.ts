/**
 * The Federator: splits a service the local cycle did not fully admit, asks peers in order within the time left, merges
 * (or explains the failure), and guards against loops. It books nothing locally: the AdmissionService owns bookings.
 */
import { randomUUID } from 'node:crypto';
import type { PeerConfig } from '../config/config';
import { AdmissionError } from '../model/errors';
import type { ServiceAnswer } from '../service/admission-service';
import type { ParsedManifest } from '../formats/optimis-manifest/parse';
import { declaredComponentIds, embeddablePeerManifest, mergeAccepted, withFederationFailure } from './merge';
import { askPeer, orderPeers, protocolOf, releaseAtPeer, type PeerCallContext } from './peers';
import { buildSubManifest, planSplit } from './split';
import type { FederationAttempt, FederationCost, FederationReason, FederationReport, InboundFederation } from './types';

export * from './types';
export { planSplit, buildSubManifest } from './split';

/** Kept back from the request deadline for merging and answering the client. */
export const ANSWER_RESERVE_MS = 250;
/** A peer is not asked with less time than this: it could not answer anyway. */
export const MIN_ATTEMPT_MS = 100;

export type FederationLog = (level: 'info' | 'warn', message: string, meta: Record<string, unknown>) => void;

export interface FederatorOptions {
  /** This provider's id (config providerId). */
  readonly providerId: string;
  readonly peers: readonly PeerConfig[];
  /** config federationMaxHops. */
  readonly maxHops: number;
  readonly log?: FederationLog;
}

/** Where the requests of one admission may go: the chain they carry, and the peers not already in it. */
export interface FederationRoute {
  readonly hop: number;
  readonly origin: readonly string[];
  readonly federationId: string;
  readonly eligible: readonly PeerConfig[];
  /** Set when nothing may be forwarded (hop limit, no peer left); the reason is reported to the client. */
  readonly blocked?: FederationReason;
}

export interface FederateInput {
  readonly answer: ServiceAnswer;
  readonly parsed: ParsedManifest;
  /** The client's manifest for this service. */
  readonly inputXml: string;
  /** The local model's own cost estimate for the VMs it chose to federate (Σ fcv·φ), replaced by the peer's cost. */
  readonly modelFederationCost: number;
  readonly route: FederationRoute;
  readonly dryRun: boolean;
  readonly requestId: string;
  /** Epoch ms by which the client must have its answer. */
  readonly deadlineAt?: number;
  readonly signal?: AbortSignal;
}

const round = (s: number): number => Math.round(s * 1000) / 1000;

/** The federation block of a service no peer took: who asked, what was (or would have been) sent, and why. */
function failureReport(
  status: FederationReport['status'],
  route: Pick<FederationRoute, 'federationId' | 'hop' | 'origin'>,
  sent: FederationReport['sent'],
  attempts: FederationReport['attempts'],
  reasons: readonly FederationReason[],
  seconds: number,
): FederationReport {
  return {
    status,
    federationId: route.federationId,
    hop: route.hop,
    origin: route.origin,
    sent,
    peerId: null,
    protocol: null,
    peerDecision: null,
    peerAdmissionId: null,
    placedVms: {},
    embeddedIds: {},
    peerManifest: null,
    attempts,
    reasons,
    seconds,
  };
}

export class Federator {
  /** Federation ids this provider is waiting on peers for: seeing one come back in is a loop. */
  private readonly inFlight = new Map<string, number>();

  constructor(private readonly options: FederatorOptions) {}

  get providerId(): string {
    return this.options.providerId;
  }

  get peers(): readonly PeerConfig[] {
    return this.options.peers;
  }

  /** Refuses a federation request that went round in a circle (AC_ERR_CONFLICT, before anything is solved or locked). */
  checkInbound(inbound: InboundFederation): void {
    if (inbound.origin.includes(this.options.providerId)) {
      throw new AdmissionError('AC_ERR_CONFLICT', `federation loop: this provider (${this.options.providerId}) is already in the origin chain ${inbound.origin.join(' → ')}`, [
        { field: 'X-EAC-Federation-Origin', reason: `contains ${this.options.providerId}` },
      ]);
    }
    if (this.inFlight.has(inbound.id)) {
      throw new AdmissionError('AC_ERR_CONFLICT', `federation loop: federation ${inbound.id} is already being federated by this provider`, [
        { field: 'X-EAC-Federation-Id', reason: 'in flight here' },
      ]);
    }
  }

  /** The route of an admission: a new chain for a client's request, the inbound chain extended for a peer's. */
  route(inbound?: InboundFederation): FederationRoute {
    const self = this.options.providerId;
    if (!inbound) return { hop: 1, origin: [self], federationId: `fed-${randomUUID()}`, eligible: this.options.peers };
    const origin = [...inbound.origin, self];
    const base = { hop: inbound.hop + 1, origin, federationId: inbound.id };
    if (inbound.hop >= this.options.maxHops) {
      return {
        ...base,
        eligible: [],
        blocked: {
          code: 'HOP_LIMIT',
          message: `${self} did not forward: the request arrived after ${inbound.hop} hop(s) and the limit is ${this.options.maxHops}`,
          data: { hop: inbound.hop, maxHops: this.options.maxHops, origin },
        },
      };
    }
    const eligible = this.options.peers.filter((p) => !origin.includes(p.id));
    if (eligible.length === 0) {
      return {
        ...base,
        eligible,
        blocked: {
          code: 'NO_ELIGIBLE_PEER',
          message: `${self} did not forward: every peer it has (${this.options.peers.map((p) => p.id).join(', ')}) is already in the origin chain ${origin.join(' → ')}`,
          data: { peers: this.options.peers.map((p) => p.id), origin },
        },
      };
    }
    return { ...base, eligible };
  }

  /**
   * The service's answer after federation (see the file header). Never throws: a bug on this side is reported as a
   * failed federation with its message (and logged), and the client still gets the local answer.
   */
  async federate(input: FederateInput): Promise<ServiceAnswer> {
    const started = Date.now();
    try {
      return await this.run(input, started);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.options.log?.('warn', 'federation error', { requestId: input.requestId, serviceId: input.answer.serviceId, error: message });
      return withFederationFailure(
        input.answer,
        failureReport('failed', input.route, [], [], [{ code: 'FEDERATION_ERROR', message: `federation failed on this side: ${message}`, data: { error: message } }], round((Date.now() - started) / 1000)),
      );
    }
  }

  /** The federation block of a peer's request this provider takes whole or not at all and may not forward. */
  notForwarded(answer: ServiceAnswer, route: FederationRoute): ServiceAnswer {
    if (!route.blocked || answer.decision === 'accepted') return answer;
    return withFederationFailure(answer, failureReport('not-forwarded', route, [], [], [route.blocked], 0));
  }

  private async run(input: FederateInput, started: number): Promise<ServiceAnswer> {
    const { answer, route } = input;
    const split = planSplit(input.parsed, answer.components);
    if (!split) return answer;
    const attempts: FederationAttempt[] = [];
    const report = (status: FederationReport['status'], reasons: readonly FederationReason[]): FederationReport =>
      failureReport(status, route, split.ok ? split.plan.components : [], attempts, reasons, round((Date.now() - started) / 1000));
    if (!split.ok) return withFederationFailure(answer, report('split-not-allowed', split.reasons));
    if (route.blocked) return withFederationFailure(answer, report('not-forwarded', [route.blocked]));
    const plan = split.plan;
    const subManifest = buildSubManifest(input.inputXml, plan, input.parsed);
    const ctx: PeerCallContext = { hop: route.hop, origin: route.origin, federationId: route.federationId, requestId: input.requestId, dryRun: input.dryRun };
    // A peer is asked only if it advertises every capability a component sent there requires.
    const sent = new Set(plan.components.map((c) => c.componentId));
    const requires = input.parsed.components.filter((c) => sent.has(c.id)).flatMap((c) => c.requires ?? []);
    const { ordered, skipped } = orderPeers(route.eligible, {
      ...(input.parsed.trecConstraints.trust !== undefined ? { minTrust: input.parsed.trecConstraints.trust } : {}),
      ...(requires.length > 0 ? { requires } : {}),
    });
    for (const s of skipped) attempts.push({ peerId: s.peer.id, protocol: protocolOf(s.peer), outcome: 'skipped', seconds: 0, error: s.reason });
    const sentIds = plan.components.map((c) => c.componentId);

    this.enter(route.federationId);
    try {
      for (const peer of ordered) {
        const protocol = protocolOf(peer);
        const remaining = (input.deadlineAt ?? Infinity) - ANSWER_RESERVE_MS - Date.now();
        if (remaining < MIN_ATTEMPT_MS || input.signal?.aborted) {
          attempts.push({ peerId: peer.id, protocol, outcome: 'skipped', seconds: 0, error: 'no time left before the request deadline' });
          continue;
        }
        const timeoutMs = Math.floor(Math.min(peer.timeoutMs, remaining));
        const t = Date.now();
        const r = await askPeer({ peer, subManifest, serviceId: plan.serviceId, sent: plan.components, ctx, timeoutMs, ...(input.signal ? { signal: input.signal } : {}) });
        const seconds = round((Date.now() - t) / 1000);
        const log = { requestId: input.requestId, federationId: route.federationId, serviceId: plan.serviceId, peerId: peer.id, protocol, seconds };
        if (!r.ok) {
          attempts.push({ peerId: peer.id, protocol, outcome: 'error', seconds, error: r.error, ...(r.httpStatus !== undefined ? { httpStatus: r.httpStatus } : {}) });
          this.options.log?.('warn', 'federation attempt failed', { ...log, error: r.error });
          continue;
        }
        const a = r.answer;
        if (a.decision !== 'accepted') {
          // Our peers hold nothing for an answer that is not an acceptance; an older one might: release it.
          const released = a.admissionId && !input.dryRun ? (await this.releaseAt(peer, a.admissionId, ctx, input.signal)).released : undefined;
          attempts.push({
            peerId: peer.id,
            protocol,
            outcome: a.decision,
            seconds,
            httpStatus: a.httpStatus,
            peerAdmissionId: a.admissionId,
            peerReasons: a.reasons,
            ...(released !== undefined ? { released } : {}),
          });
          this.options.log?.('info', 'federation attempt not accepted', { ...log, decision: a.decision });
          continue;
        }
        let embedded: { xml: string; idMap: Record<string, string> };
        try {
          embedded = embeddablePeerManifest(a.manifest, peer.id, declaredComponentIds(input.inputXml));
        } catch (error) {
          const released = a.admissionId && !input.dryRun ? (await this.releaseAt(peer, a.admissionId, ctx, input.signal)).released : undefined;
          const message = `invalid answer: the returned manifest cannot be embedded (${error instanceof Error ? error.message : String(error)})`;
          attempts.push({ peerId: peer.id, protocol, outcome: 'error', seconds, error: message, ...(released !== undefined ? { released } : {}) });
          continue;
        }
        attempts.push({ peerId: peer.id, protocol, outcome: 'accepted', seconds, httpStatus: a.httpStatus, peerAdmissionId: a.admissionId });
        this.options.log?.('info', 'federation accepted', { ...log, peerAdmissionId: a.admissionId });
        const placedVms = Object.fromEntries(sentIds.map((id) => [id, a.placedVms.get(id) ?? 0]));
        const cost = this.cost(answer, input.modelFederationCost, a.cost, peer, Object.values(placedVms).reduce((x, y) => x + y, 0));
        const done: FederationReport = {
          ...report('federated', []),
          peerId: peer.id,
          protocol,
          peerDecision: a.decision,
          peerAdmissionId: a.admissionId,
          placedVms,
          embeddedIds: Object.fromEntries(sentIds.map((id) => [id, embedded.idMap[id] ?? id])),
          peerManifest: a.manifest,
          cost,
        };
        return mergeAccepted({
          local: answer,
          inputXml: input.inputXml,
          parsed: input.parsed,
          embeddedXml: embedded.xml,
          peerId: peer.id,
          placedVms: a.placedVms,
          cost,
          report: done,
        });
      }
    } finally {
      this.leave(route.federationId);
    }
    return withFederationFailure(answer, report('failed', failureReasons(attempts, sentIds)));
  }

  /** Releases a booking at a configured peer (the DELETE cascade, and rolling back an answer that is not kept). */
  async release(peerId: string, admissionId: string, requestId: string, signal?: AbortSignal): Promise<{ released: boolean; error?: string }> {
    const peer = this.options.peers.find((p) => p.id === peerId);
    if (!peer) return { released: false, error: `peer '${peerId}' is no longer configured` };
    const ctx: PeerCallContext = { hop: 1, origin: [this.options.providerId], federationId: `fed-${randomUUID()}`, requestId, dryRun: false };
    return this.releaseAt(peer, admissionId, ctx, signal);
  }

  private async releaseAt(peer: PeerConfig, admissionId: string, ctx: PeerCallContext, signal?: AbortSignal): Promise<{ released: boolean; error?: string }> {
    const r = await releaseAtPeer(peer, admissionId, ctx, peer.timeoutMs, signal);
    if (!r.released) this.options.log?.('warn', 'federation release failed', { peerId: peer.id, peerAdmissionId: admissionId, error: r.error ?? 'not released' });
    return r;
  }

  private cost(answer: ServiceAnswer, modelEstimate: number, peerCost: number | null, peer: PeerConfig, placed: number): FederationCost {
    const local = Math.max(0, answer.trec.cost - modelEstimate);
    const [federated, federatedSource]: [number, FederationCost['federatedSource']] =
      peerCost !== null ? [peerCost, 'peer'] : peer.priceHint !== undefined ? [peer.priceHint * placed, 'price-hint'] : [modelEstimate, 'model-estimate'];
    return { local, federated, total: local + federated, federatedSource };
  }

  private enter(id: string): void {
    this.inFlight.set(id, (this.inFlight.get(id) ?? 0) + 1);
  }

  private leave(id: string): void {
    const n = (this.inFlight.get(id) ?? 1) - 1;
    if (n <= 0) this.inFlight.delete(id);
    else this.inFlight.set(id, n);
  }
}

/** One reason per peer that was asked or skipped, in the order they were tried. */
function failureReasons(attempts: readonly FederationAttempt[], sentIds: readonly string[]): FederationReason[] {
  if (attempts.length === 0) {
    return [{ code: 'NO_ELIGIBLE_PEER', message: 'no peer could be asked', data: { sent: sentIds } }];
  }
  return attempts.map((a): FederationReason => {
    const data = { peerId: a.peerId, protocol: a.protocol, seconds: a.seconds, httpStatus: a.httpStatus ?? null, sent: sentIds };
    switch (a.outcome) {
      case 'rejected':
      case 'partial': {
        const why = (a.peerReasons ?? []).slice(0, 3).map((r) => (r.componentId ? `${r.componentId}: ${r.message}` : r.message));
        return {
          code: a.outcome === 'rejected' ? 'PEER_REJECTED' : 'PEER_PARTIAL',
          message: `${a.peerId} answered ${a.outcome}${a.outcome === 'partial' ? ' (not an acceptance)' : ''} for ${sentIds.join(', ')}${why.length ? `: ${why.join('; ')}` : ''}`,
          data: { ...data, peerReasons: (a.peerReasons ?? []).map((r) => r.code) },
        };
      }
      case 'skipped':
        return {
          code: a.error?.startsWith('no time left') ? 'NO_TIME_LEFT' : 'PEER_SKIPPED',
          message: `${a.peerId} was not asked: ${a.error ?? 'skipped'}`,
          data,
        };
      default:
        return { code: 'PEER_FAILED', message: `${a.peerId} failed after ${a.seconds} s: ${a.error ?? 'unknown error'}`, data: { ...data, error: a.error ?? null } };
    }
  });
}
