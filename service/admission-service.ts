/**
 * Orchestrates one admission request: parse manifests → snapshot of hosts and reservations → TREC values →
 * model → admit (solve, verify, decide) → offers written into the manifests → record (unless dry-run) → federation
 * of what was not admitted (when peers are configured). Transport-free: the HTTP routes call it; it never sees express.
 */
import type { VmSizes } from '../deploy/plan';
import { createHash, randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { AdmissionResult, SolverChoice } from '../admission-controller/admit';
import { admit } from '../admission-controller/admit';
import { decide, type DecisionContext, type DecisionHolder, type ServiceDecision } from '../admission-controller/decisions';
import type { PeerConfig } from '../config/config';
import type { HostInfoProvider, HostSnapshot } from '../host-info/types';
import { AdmissionError, isAdmissionError, type ErrorDetail } from '../model/errors';
import { requirementText } from '../model/capabilities';
import type { AdmissionModel, CapabilityRequirement, TrecConstraints } from '../model/types';
import { buildAdmissionModel, HostModelMemo, type ServiceRequest } from '../trec-analyzer/build-model';
import { withCapabilityOverrides } from './host-capabilities';
import { TrecClient, type DegradedNote, type TrecFetchOptions, type TrecSnapshot, type TrecStatus } from '../trec-analyzer/trec-fetchers';
import { AdmissionIntake } from './intake';
import { Federator, type FederationLog, type FederationReport, type FederationRoute, type InboundFederation } from '../federation';
import { writeAllocationOffer, type AllocationOfferInput } from '../formats/optimis-manifest/offer';
import { parseManifestDocument, type ParsedManifest } from '../formats/optimis-manifest/parse';
import type { XmlDocument } from '../xml/safe-xml';
import type { AdmissionRecord, BookingInput, DecisionInput, Holder, Ledger, TimeWindow } from '../ledger/types';
import { windowJson } from '../gateway/time';
import { CapacitySnapshots, type PendingBooking } from './snapshot';
import { chargeClasses, chargePlan, breakdownOf, repricePlan, type ChargeBreakdown, type ChargeClasses, type PlacedVms } from '../charging/pricing';
import { creditPeriod, ownerCharging, plannedAmount, type ChargingCatalogue, type OwnerCharging } from './charging';
import type { ChargePlan } from '../model/charge-plan';
import { vmCharge } from '../model/charge';
import { money } from '../model/charge-plan';

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
  /** Epoch ms; the ledger's clock (tests move it by hand). */
  readonly clock?: () => number;
  /** Called after this process booked something (the lifecycle scheduler re-plans, webhooks look). */
  readonly onBooked?: () => void;
  /** A manifest's bound against a TREC value nobody measured: satisfied (default) or violated; listed as not checkable. */
  readonly unknownTrec?: 'satisfy' | 'violate';
  /** How far ahead a request not admitted whole looks for its earliest fit, hours (0 = no search; default 168). */
  readonly earliestFitHorizonHours?: number;
  /** Writing the decision log failed (the answer stands: it is logged, never turned into an error). */
  readonly onDecisionLogError?: (error: unknown) => void;
  /** The charging catalogue (AC_CHARGING); absent: nothing is charged. */
  readonly charging?: ChargingCatalogue;
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
  /** The reservation's window (default: from now, open-ended). */
  readonly window?: TimeWindow;
  /** Promise's expiry: an offer not confirmed within this many seconds after its start lapses. */
  readonly expirySeconds?: number;
  /** Idempotency-Key header: the first answer is returned again for the same request, and nothing more is booked. */
  readonly idempotencyKey?: string;
  /** Replace the owner's held offers for the same services (default true: an SLA negotiation asks twice). */
  readonly replaceHeld?: boolean;
  /**
   * Capability requirements given beside the manifests (JSON bodies), per manifest position and component id; added to
   * what the manifest's own eac:Requires / eac:Forbids / eac:SameValue say.
   */
  readonly capabilities?: readonly (ManifestCapabilities | null)[];
  /** Set by admit() itself: the manifests of the batch that were refused on their own (positions in the original). */
  readonly manifestErrors?: readonly ManifestError[];
  /** The owner's role (gateway/auth.ts): catalogue groups may assign agreements by role. */
  readonly ownerRole?: string;
}

export interface ServiceAnswer extends ServiceDecision {
  readonly serviceId: string;
  /** Position of its manifest in the request. */
  readonly manifestIndex: number;
  readonly manifestId: string;
  /** Id of the recorded admission holding this service's capacity; null on dry-run or when nothing is local. */
  readonly admissionId: string | null;
  /** `held` when recorded (an offer until holdExpiresAt; confirm it to keep it), else null. */
  readonly status: 'held' | null;
  readonly window: { readonly start: string; readonly end: string | null };
  readonly holdExpiresAt: string | null;
  /** Bounds of the manifest that met a value nobody measured, and what the policy made of them. */
  readonly uncheckedBounds?: readonly UncheckedBound[];
  /** Not fully admitted: the admissions holding capacity in the window (largest first, at most 20). */
  readonly heldBy?: readonly HeldBy[];
  /** Not fully admitted: the earliest start within the horizon at which it would be. */
  readonly earliestFit?: EarliestFit;
  /** The input manifest with the allocation offer written back (OPTIMIS-compatible, XSD-valid). */
  readonly manifest: string;
  /** Present when the service needed a peer (federation configured, not fully admitted, federation allowed). */
  readonly federation?: FederationReport;
  /** With a charging catalogue (docs/charging.md): what the offer costs and what bounded it. */
  readonly charge?: AnswerCharge;
}

export interface AnswerCharge extends ChargeBreakdown {
  readonly via: string;
  /** The bound the solvers kept the charge under, and where it came from; null: unbounded. */
  readonly bound: number | null;
  readonly boundSources: readonly ('price-plan' | 'credits')[];
  /** The manifest's PricePlan cap and floor, when they could be compared (same currency). */
  readonly planCap: number | null;
  readonly planFloor: number | null;
  /** Why the PricePlan was not compared (another currency), or that the charge is below its floor (the catalogue's price applies). */
  readonly planCapNote?: string;
  /**
   * With a credit plan: the balance now, what held offers already count against it, what is available, this service's
   * share of it (`bound`: all of it unless the request has several services), and what it would become after the whole
   * request (`after`).
   */
  readonly credits?: { readonly period: string; readonly balance: number; readonly held: number; readonly available: number; readonly bound: number; readonly after: number };
  readonly reasons: readonly { readonly code: 'BUDGET'; readonly message: string; readonly data: Record<string, unknown> }[];
}

/** What buildModel worked out for charging: the owner's agreement, the classes, each service's bound. */
interface ModelChargingContext {
  readonly owner: OwnerCharging;
  readonly classes: ChargeClasses;
  readonly perService: readonly {
    readonly bound: number | null;
    readonly sources: ('price-plan' | 'credits')[];
    readonly planCap: number | null;
    readonly planFloor: number | null;
    /** The credits this service may use: all that is left, or its share when the request has several services. */
    readonly creditBound: number | null;
    readonly planCapNote?: string;
  }[];
  readonly credits?: { readonly period: string; readonly balance: number; readonly held: number; readonly available: number };
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
  /** Σ of the per-host generations the snapshot saw (moves whenever bookings or the inventory change). */
  readonly capacityGeneration: number;
  /** The window the request was solved over (RFC 3339; end null = open). */
  readonly window: { readonly start: string; readonly end: string | null };
  /** true when this is the stored answer of an earlier request with the same Idempotency-Key. */
  readonly replayed?: boolean;
  /** Manifests of a batch refused on their own (the others are in `services`, each with its manifestIndex). */
  readonly errors?: readonly ManifestError[];
  readonly services: readonly ServiceAnswer[];
}

/**
 * Re-solves after a capacity conflict (another process booked what this snapshot saw free) before answering 409.
 * Workers and replicas solving the same fleet pick the same best hosts, and this process cannot see their bookings
 * until they commit. Two measures, each measured on its own on a busy 2-core machine with 16 clients on free capacity:
 * - each retry leaves the hosts that conflicted so far alone (AC_WORKERS=2: with 6 plain attempts 3 of 716 admissions
 *   were refused, with avoidance and 12 attempts none of 1,101 in three runs);
 * - each retry after the first waits a random, growing delay (full jitter, at most CONFLICT_BACKOFF_CAP_MS), so retries
 *   do not run in lock step (3 PostgreSQL replicas, 64 held offers: 10 attempts 8 of 273 refused, 30 attempts 0 of 202,
 *   the worst needing 16).
 * A conflict means another booking committed, so the fleet makes progress while one request retries; the request's
 * own deadline (its signal) still bounds it.
 */
const MAX_CONFLICT_RETRIES = 30;
const CONFLICT_BACKOFF_BASE_MS = 2;
const CONFLICT_BACKOFF_CAP_MS = 100;
const conflictBackoff = (attempt: number): Promise<void> =>
  attempt <= 1 ? Promise.resolve() : new Promise((r) => setTimeout(r, Math.random() * Math.min(CONFLICT_BACKOFF_CAP_MS, CONFLICT_BACKOFF_BASE_MS * 2 ** attempt)));

/** A cycle's answer plus what only the model knows: its own cost estimate for the VMs it chose to federate. */
interface CycleResult {
  readonly answer: AdmissionAnswer;
  readonly federationCosts: readonly number[];
  /** The answer is an idempotency key's stored one: nothing was booked now. */
  readonly replayed: boolean;
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

/** Requirements of one manifest's components given in JSON, by component id. */
export type ManifestCapabilities = Readonly<Record<string, { readonly requires?: readonly CapabilityRequirement[]; readonly sameValue?: readonly string[] }>>;

/** The manifest with the JSON body's requirements added; an unknown component id is the request's error. */
function withCapabilities(manifest: ParsedManifest, extra: ManifestCapabilities | null | undefined, k: number): ParsedManifest {
  if (!extra || Object.keys(extra).length === 0) return manifest;
  const known = new Set(manifest.components.map((c) => c.id));
  const unknown = Object.keys(extra).filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw new AdmissionError(
      'AC_ERR_INVALID_REQUEST',
      `body.capabilities[${k}]: no component ${unknown.join(', ')} in service ${manifest.serviceId} (it has ${[...known].join(', ')})`,
      unknown.map((id) => ({ field: `body.capabilities[${k}].${id}`, reason: 'not a component of the manifest' })),
    );
  }
  const components = manifest.components.map((c) => {
    const add = extra[c.id]?.requires ?? [];
    if (add.length === 0) return c;
    const texts = new Set((c.requires ?? []).map(requirementText));
    return { ...c, requires: [...(c.requires ?? []), ...add.filter((r) => !texts.has(requirementText(r)))] };
  });
  const sameValue = new Map(manifest.sameValue.map((r) => [r.capability, [...r.members]]));
  for (const [id, entry] of Object.entries(extra)) {
    for (const capability of entry.sameValue ?? []) {
      const members = sameValue.get(capability) ?? [];
      if (!members.includes(id)) members.push(id);
      sameValue.set(capability, members);
    }
  }
  return { ...manifest, components, sameValue: [...sameValue].map(([capability, members]) => ({ capability, members })) };
}

/** A manifest of the request as the cycle uses it: its position, and a model id unique within the request. */
export type RequestedManifest = ParsedManifest & {
  /** Position in the request's manifests. */
  readonly manifestIndex: number;
  /** The service id, with `#<n>` appended to a second, third… manifest of the same service (told apart by position). */
  readonly modelId: string;
};

/** A manifest of a batch that could not be admitted at all (it does not parse, or breaks a cap): its own entry. */
export interface ManifestError {
  readonly manifestIndex: number;
  readonly error: { readonly code: string; readonly message: string; readonly details: readonly ErrorDetail[] };
}

function withIndex(error: AdmissionError, k: number): AdmissionError {
  return new AdmissionError(
    error.code,
    `manifests[${k}]: ${error.message}`,
    error.details.map((d): ErrorDetail => ({ field: `manifests[${k}].${d.field}`, reason: d.reason })),
  );
}

/**
 * Parses every manifest and checks its caps. A single manifest that fails is the request's error; in a batch each is
 * judged on its own: the failing ones become error entries and the others are admitted.
 */
function parseAll(
  manifests: readonly string[],
  limits: NonNullable<AdmissionServiceOptions['limits']>,
  capabilities?: readonly (ManifestCapabilities | null)[],
): { parsed: RequestedManifest[]; errors: ManifestError[] } {
  const parsed: RequestedManifest[] = [];
  const errors: ManifestError[] = [];
  const seen = new Map<string, number>();
  manifests.forEach((xml, k) => {
    try {
      let entry;
      try {
        entry = parseCached(xml);
      } catch (error) {
        throw error instanceof AdmissionError && manifests.length > 1 ? withIndex(error, k) : error;
      }
      const { document } = entry;
      const manifest = withCapabilities(entry.manifest, capabilities?.[k], k);
      checkLimits(manifest, manifests.length > 1 ? `manifests[${k}]` : 'manifest', limits);
      const n = (seen.get(manifest.serviceId) ?? 0) + 1;
      seen.set(manifest.serviceId, n);
      const requested: RequestedManifest = { ...manifest, manifestIndex: k, modelId: n === 1 ? manifest.serviceId : `${manifest.serviceId}#${n}` };
      documents.set(requested, document);
      parsed.push(requested);
    } catch (error) {
      if (!(error instanceof AdmissionError) || manifests.length === 1) throw error;
      errors.push({ manifestIndex: k, error: error.toJSON() });
      if (errors.length === manifests.length) throw error;
    }
  });
  return { parsed, errors };
}

const DEFAULT_LIMITS = { maxComponentsPerManifest: 1000, maxVmsPerComponent: 1000 } as const;

/** The work one manifest may ask for: refused before anything is fetched or solved (413, naming the cap). */
function checkLimits(m: ParsedManifest, where: string, limits: NonNullable<AdmissionServiceOptions['limits']>): void {
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
}

/** Host ids of a host snapshot, for the TREC fetchers (snapshots are frozen and shared: one frozen list each). */
const snapshotIds = new WeakMap<HostSnapshot, readonly string[]>();
function hostIds(hosts: HostSnapshot): readonly string[] {
  let ids = snapshotIds.get(hosts);
  if (!ids) snapshotIds.set(hosts, (ids = Object.freeze(hosts.map((h) => h.id))));
  return ids;
}

export class AdmissionService {
  /** Snapshots and solves of recorded admissions in this process, one at a time; commits overlap (see snapshot.ts). */
  private readonly lock = new Mutex();
  /** The host part of the last model, reused while the host snapshot, reservations and host TREC values are unchanged. */
  private readonly hostMemo = new HostModelMemo();
  /** Undefined when no peer is configured: then nothing is forwarded and answers are exactly the local ones. */
  private readonly federator: Federator | undefined;
  private readonly intake: AdmissionIntake;
  /** One per process: its circuit breakers remember failing TREC services across admissions. */
  private readonly trec: TrecClient;
  private readonly snapshots: CapacitySnapshots;
  private readonly clock: () => number;
  /** Host-info snapshots already recorded in the ledger's inventory (snapshots are frozen: identity is enough). */
  private readonly synced = new WeakSet<HostSnapshot>();
  private last: LastSolved | undefined;
  /** Owner → the credit period this process has recorded the grant of (service/charging.ts). */
  private readonly creditsGranted = new LRUCache<string, string>({ max: 10_000 });
  private pendingDecisions: DecisionInput[] = [];
  private decisionFlush: Promise<void> | undefined;

  private readonly hostInfo: HostInfoProvider;

  constructor(
    hostInfo: HostInfoProvider,
    private readonly ledger: Ledger,
    private readonly options: AdmissionServiceOptions,
  ) {
    // Operators' capability overrides (ledger) merged over host-info's: what every admission places against.
    this.hostInfo = withCapabilityOverrides(hostInfo, ledger);
    const f = options.federation;
    this.intake = options.intake ?? new AdmissionIntake();
    this.trec = new TrecClient(options.trec);
    this.snapshots = new CapacitySnapshots(ledger);
    this.clock = options.clock ?? Date.now;
    this.federator =
      f && f.peers.length > 0 ? new Federator({ providerId: options.providerId, peers: f.peers, maxHops: f.maxHops, ...(f.log ? { log: f.log } : {}) }) : undefined;
  }

  /** Admits, and writes the answer to the decision log (one row per service; a replayed answer is not a new decision). */
  async admit(original: AdmissionRequest): Promise<AdmissionAnswer> {
    const started = performance.now();
    const answer = await this.admitOnce(original);
    if (!answer.replayed) await this.logDecisions(original, answer, performance.now() - started);
    return answer;
  }

  private async logDecisions(request: AdmissionRequest, answer: AdmissionAnswer, durationMs: number): Promise<void> {
    const at = this.clock();
    const decisions = answer.services.map((s): DecisionInput => ({
      id: `dec-${randomUUID()}`,
      at,
      requestId: request.requestId,
      owner: request.owner,
      serviceId: s.serviceId,
      admissionId: s.admissionId,
      decision: s.decision,
      dryRun: answer.dryRun,
      reasons: [...new Set(s.components.flatMap((c) => c.reasons.map((r) => r.code)))],
      durationMs: Math.round(durationMs * 10) / 10,
      detail: decisionDetail(answer, s, request),
    }));
    await this.queueDecisions(decisions);
  }

  /**
   * Decisions of admissions answered in the same event-loop turn share one write (one transaction, one fsync), as
   * book() calls do; each admission waits for its batch, so its decisions are queryable once it is answered.
   */
  private queueDecisions(decisions: readonly DecisionInput[]): Promise<void> {
    this.pendingDecisions.push(...decisions);
    this.decisionFlush ??= new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
      const batch = this.pendingDecisions;
      this.pendingDecisions = [];
      this.decisionFlush = undefined;
      try {
        await this.ledger.recordDecisions(batch);
      } catch (error) {
        this.options.onDecisionLogError?.(error);
      }
    });
    return this.decisionFlush;
  }

  private async admitOnce(original: AdmissionRequest): Promise<AdmissionAnswer> {
    if (original.manifests.length === 0) {
      throw new AdmissionError('AC_ERR_INVALID_REQUEST', 'no manifest in the request', [{ field: 'manifests', reason: 'at least one manifest is required' }]);
    }
    if (original.manifests.length > this.options.maxManifests) {
      throw new AdmissionError('AC_ERR_LIMIT_EXCEEDED', `too many manifests: ${original.manifests.length} > ${this.options.maxManifests} (AC_MAX_MANIFESTS)`, [
        { field: 'manifests', reason: `at most ${this.options.maxManifests} per request (AC_MAX_MANIFESTS)` },
      ]);
    }
    const inbound = original.federation;
    if (inbound && original.manifests.length !== 1) {
      throw new AdmissionError('AC_ERR_INVALID_REQUEST', `a federation request carries exactly one manifest, got ${original.manifests.length}`, [
        { field: 'manifests', reason: 'one sub-manifest per federation request' },
      ]);
    }
    // Idempotent claims: the same key and request answer the first answer again, before any work (book() re-checks).
    const records = !original.dryRun && !original.cleanTestbed;
    const idempotency = records && original.idempotencyKey !== undefined ? { owner: original.owner, key: original.idempotencyKey, requestHash: requestHash(original) } : undefined;
    if (idempotency) {
      const stored = await this.ledger.idempotentAnswer(idempotency.owner, idempotency.key);
      if (stored) return replayedAnswer(stored, idempotency);
    }
    // Everything from parsing on starts in arrival order, one admission per event-loop turn (see intake.ts).
    await this.intake.turn(original.signal);
    // Bad input fails here, before anything is locked or fetched; in a batch each manifest is judged on its own.
    const { parsed, errors } = parseAll(original.manifests, this.options.limits ?? DEFAULT_LIMITS, original.capabilities);
    // From here on the request holds the valid manifests only, in order (positions are kept in manifestIndex).
    const request: AdmissionRequest =
      errors.length === 0
        ? original
        : {
            ...original,
            manifests: parsed.map((m) => original.manifests[m.manifestIndex]!),
            manifestErrors: errors,
            ...(original.forbidFederation ? { forbidFederation: parsed.map((m) => original.forbidFederation![m.manifestIndex] ?? false) } : {}),
          };
    // Loops are refused before anything is locked: the provider we would wait for may be waiting for us.
    if (inbound) this.federator?.checkInbound(inbound);
    const route = this.federator?.route(inbound);
    // The key is stored with the bookings when nothing can change the answer afterwards (no federation), else at the end.
    const storeLater = idempotency !== undefined && route !== undefined;
    const cycleIdempotency = storeLater ? undefined : idempotency;

    if (inbound) {
      // A peer asks for all of its sub-manifest or nothing (a partial booking is useless to it): first try to take the
      // whole of it here, all-or-nothing; only when that fails, and this provider may forward, split it further.
      const whole = await this.runCycle(parsed, { ...request, forbidFederation: request.manifests.map(() => true) }, cycleIdempotency, false);
      const s = whole.answer.services[0]!;
      const mayForward = route !== undefined && !route.blocked && parsed[0]!.federationAllowed && !request.forbidFederation?.[0];
      if (whole.replayed || s.decision === 'accepted' || !mayForward) {
        const answer = whole.replayed ? whole.answer : { ...whole.answer, services: whole.answer.services.map(asWholeRequest) };
        const final = this.federator && route && !whole.replayed ? { ...answer, services: answer.services.map((x) => this.federator!.notForwarded(x, route)) } : answer;
        return storeLater ? await this.rememberAnswer(final, idempotency!) : final;
      }
    }

    // Reasons and summaries speak of federating only when a peer could take the VMs.
    const federationAvailable = route !== undefined && !route.blocked && route.eligible.length > 0;
    const { answer, federationCosts, replayed } = await this.runCycle(parsed, request, cycleIdempotency, federationAvailable);
    if (replayed || !this.federator || !route) return storeLater && !replayed ? await this.rememberAnswer(answer, idempotency!) : answer;
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
    if (!records) return { ...answer, services };
    const settled = await this.settle(answer.services, services, request, route);
    const final = { ...answer, services: settled };
    return storeLater ? await this.rememberAnswer(final, idempotency!) : final;
  }

  /** Stores the final answer under its idempotency key (a concurrent twin that stored first wins: its answer is returned). */
  private async rememberAnswer(answer: AdmissionAnswer, idempotency: { owner: string; key: string; requestHash: string }): Promise<AdmissionAnswer> {
    const r = await this.ledger.book({ bookings: [], idempotency: { ...idempotency, answer }, actor: idempotency.owner });
    return r.kind === 'replayed' ? replayedAnswer({ requestHash: idempotency.requestHash, answer: r.answer }, idempotency) : answer;
  }

  /**
   * The admission cycle. Recorded admissions take their snapshot and solve one at a time in this process, reserve what
   * they chose in memory, and commit outside the lock (commits of concurrent admissions share one transaction); a
   * booking that another process made impossible meanwhile is a capacity conflict, and the cycle is solved again.
   */
  private async runCycle(parsed: readonly RequestedManifest[], request: AdmissionRequest, idempotency: Idempotency | undefined, federationAvailable: boolean): Promise<CycleResult> {
    const records = !request.dryRun && !request.cleanTestbed;
    if (!records) return this.finish(await this.withInsight(await this.prepare(parsed, request, federationAvailable), parsed, request), request, undefined);
    const contended = new Set<string>();
    for (let attempt = 1; ; attempt++) {
      const prepared = await this.lock.run(() => this.prepare(parsed, request, federationAvailable, contended));
      try {
        // Outside the lock: the search for an earliest fit solves more models, and the choice is reserved meanwhile.
        return await this.finish(await this.withInsight(prepared, parsed, request), request, idempotency);
      } catch (error) {
        if (!(isAdmissionError(error) && error.code === 'AC_ERR_CAPACITY_CONFLICT') || attempt >= MAX_CONFLICT_RETRIES) throw error;
        // Another process is booking the same hosts (its bookings are invisible here until they commit, and a
        // deterministic solver picks the same favourites again): the next attempts leave the contended hosts alone.
        for (const d of error.details) if (d.field === 'hostId') contended.add(d.reason);
      } finally {
        prepared.release();
      }
      await conflictBackoff(attempt);
    }
  }

  /**
   * Bookings after federation. The local part was booked by the cycle, before peers were asked (the lock is never
   * held while waiting for a peer: two providers federating to each other would deadlock). Then:
   * - accepted with a peer: the held offer is replaced (same transaction) by one with the final decision and the peer's
   *   admission id, so DELETE releases both and capacity is never free in between;
   * - a peer's request that did not end accepted: the local part is released (the peer asked for all or nothing);
   * - otherwise the local record stays as it is (partial, as before federation existed).
   */
  private async settle(before: readonly ServiceAnswer[], after: readonly ServiceAnswer[], request: AdmissionRequest, route: FederationRoute): Promise<ServiceAnswer[]> {
    return Promise.all(
      after.map(async (s, a): Promise<ServiceAnswer> => {
        const old = before[a]!;
        if (request.federation && s.decision !== 'accepted') {
          if (!old.admissionId) return s;
          await this.ledger.release(old.admissionId, request.owner);
          return { ...s, admissionId: null, status: null, holdExpiresAt: null, summary: `${s.summary}; nothing is held here (a federation request is all or nothing)` };
        }
        if (s === old || s.federation?.status !== 'federated') return s;
        const previous = old.admissionId ? await this.ledger.get(old.admissionId) : undefined;
        const id = `adm-${randomUUID()}`;
        const window = previous?.window ?? request.window ?? { start: this.clock(), end: null };
        const holdExpiresAt = previous?.holdExpiresAt ?? this.holdExpiry(window, request.expirySeconds);
        try {
          await this.ledger.book({
            bookings: [
              {
                id,
                owner: request.owner,
                serviceId: s.serviceId,
                decision: s.decision,
                window,
                holdExpiresAt,
                ...(request.expirySeconds !== undefined ? { expirySeconds: request.expirySeconds } : {}),
                hosts: previous?.hosts ?? [],
                response: {
                  ...storedResponse(request, s, request.manifests[a]!, request.capabilities?.[a], (previous?.response as { vmSizes?: VmSizes } | null | undefined)?.vmSizes),
                  federation: { federationId: route.federationId, peerId: s.federation.peerId, protocol: s.federation.protocol, peerAdmissionId: s.federation.peerAdmissionId },
                },
              },
            ],
            replaceHeld: true,
            actor: request.owner,
          });
        } catch (error) {
          // The local part stays booked under its old id; the peer's part is named in the answer.
          this.options.federation?.log?.('warn', 'could not re-record a federated admission', { requestId: request.requestId, error: String(error) });
          return s;
        }
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

  /** The model and result of the last admission this process solved (the OPTIMIS getCSV endpoints show its files). */
  lastSolved(): LastSolved | undefined {
    return this.last;
  }

  /** The TREC sources and their circuit breakers, for /health and /ready. */
  trecStatus(): TrecStatus {
    return this.trec.status();
  }

  /** Releases what the service holds open (keep-alive sockets to TREC services). */
  close(): void {
    this.trec.close();
  }

  /** Records a host-info snapshot in the ledger's inventory once (capacity.changed events for what changed). */
  async syncHosts(hosts: HostSnapshot): Promise<void> {
    if (this.synced.has(hosts)) return;
    await this.ledger.syncHosts(
      hosts.map((h) => ({ id: h.id, cpus: h.cpus, usedCpus: h.usedCpus, ...(h.memoryMb !== undefined ? { memoryMb: h.memoryMb, usedMemoryMb: h.usedMemoryMb ?? 0 } : {}) })),
      'host-info',
    );
    this.synced.add(hosts);
  }

  /** A held offer lapses at start + expirySeconds (Promise's expiry) when given, else after the hold TTL. */
  private holdExpiry(window: TimeWindow, expirySeconds: number | undefined): number {
    const now = this.clock();
    return expirySeconds !== undefined ? Math.max(now + 1000, window.start + expirySeconds * 1000) : now + this.options.reservationTtlSeconds * 1000;
  }

  /** The model this request would be solved on, over its window (for diagnostics and tests too). */
  async buildModel(
    parsed: readonly RequestedManifest[],
    request: Pick<AdmissionRequest, 'manifests' | 'cleanTestbed' | 'forbidFederation' | 'signal' | 'owner' | 'window' | 'ownerRole'> & {
      readonly replacing?: readonly PendingBooking[];
      /** TREC values already fetched for these services (what-if solves of the same request reuse them). */
      readonly trec?: TrecSnapshot;
      /** Hosts this attempt treats as full (CapacitySnapshots.take). */
      readonly avoidHosts?: ReadonlySet<string>;
    },
  ): Promise<{
    model: AdmissionModel;
    degraded: DegradedNote[];
    generation: number;
    generations: Readonly<Record<string, number>>;
    /** Per host: what recorded admissions hold of the model's usage (for the reasons). */
    booked: ReadonlyMap<string, { readonly cpus: number; readonly memoryMb: number }>;
    provenance: Provenance[];
    hosts: HostSnapshot;
    window: TimeWindow;
    trec: TrecSnapshot;
    charging?: ModelChargingContext;
  }> {
    const window = request.window ?? { start: this.clock(), end: null };
    const owner = ownerCharging(this.options.charging?.current(), request.owner, request.ownerRole);
    const hosts = await this.hostInfo.listHosts(request.signal);
    await this.syncHosts(hosts);
    const ignoreUsage = Boolean(request.cleanTestbed);
    // The requester's own held offers for these services will be replaced by this booking: they do not count against it.
    const replacing: PendingBooking[] = [...(request.replacing ?? [])];
    if (!ignoreUsage && !request.replacing) {
      for (const m of parsed) {
        const held = await this.ledger.list({ owner: request.owner, serviceId: m.serviceId, statuses: ['held'] }, { limit: 10 });
        for (const r of held.items) replacing.push({ window: r.window, hosts: r.hosts });
      }
    }
    const [snapshot, policy, bounds] = await Promise.all([
      ignoreUsage ? undefined : this.snapshots.take(hosts, window, replacing, request.avoidHosts),
      this.ledger.policy(),
      // With a catalogue the PricePlan cap bounds the charge (below), not OPTIMIS's model cost (10 × planCap).
      Promise.all(parsed.map((m) => this.ledger.effectiveConstraints(m.serviceId, owner ? withoutCost(m.trecConstraints) : m.trecConstraints))),
    ]);
    const trec = request.trec ?? await this.trec.fetch(
      parsed.map((m, k) => ({
        serviceId: m.modelId,
        ...(m.serviceProviderId ? { serviceProviderId: m.serviceProviderId } : {}),
        manifestXml: request.manifests[k]!,
      })),
      hostIds(hosts),
      request.signal,
    );
    const defaults = (await this.ledger.defaultConstraints()).constraints;
    const unchecked = parsed.map((m, k) =>
      checkableBounds(bounds[k]!, defaults, trec.services.get(m.modelId), this.options.trec.fallbacks, this.options.unknownTrec ?? 'satisfy'),
    );
    const services = parsed.map((m, k): ServiceRequest => ({
      id: m.modelId,
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
        ...(c.requires ? { requires: c.requires } : {}),
      })),
      rules: m.rules,
      ...(m.sameValue.length > 0 ? { sameValue: m.sameValue } : {}),
      constraints: unchecked[k]!.constraints,
      ...(m.pricePlan && m.pricePlan.planFloor > 0 ? { planFloor: m.pricePlan.planFloor } : {}),
    }));
    const built = buildAdmissionModel(
      {
        services,
        hosts,
        ...(ignoreUsage ? { ignoreUsage: true } : {}),
        ...(snapshot ? { reserved: snapshot.reserved } : {}),
        serviceTrec: trec.services,
        hostTrec: trec.hosts,
        weights: policy.weights,
        defaultGain: this.options.defaultGain,
        fallbackTrec: { trust: this.options.trec.fallbacks.trust, risk: this.options.trec.fallbacks.risk, eco: this.options.trec.fallbacks.eco },
      },
      this.hostMemo,
    );
    const charging = owner ? await this.chargingContext(owner, parsed, window, hosts, request.owner) : undefined;
    const model: AdmissionModel = charging
      ? {
          ...built,
          charging: charging.classes.charging,
          hosts: classedHosts(built.hosts, charging.classes.classOf),
          services: built.services.map((sv, k) => (charging.perService[k]!.bound !== null ? { ...sv, chargeBound: charging.perService[k]!.bound! } : sv)),
        }
      : built;
    const provenance = parsed.map((m, k): Provenance => ({
      values: trec.services.get(m.modelId)?.sources ?? { trust: 'default', risk: 'default', eco: 'default', cost: 'default' },
      bounds: bounds[k]!.sources,
      unchecked: unchecked[k]!.notes,
    }));
    const info = this.hostInfo.snapshotInfo?.(hosts);
    // Never silent: an admission made on host data older than the cache time says how old and why.
    const hostNote: DegradedNote[] =
      info && !info.fresh
        ? [
            {
              source: 'hostInfo',
              target: info.provider,
              reason: info.suspect ? `the latest host list is held back: ${info.suspect.reason}` : `the host source failed: ${info.lastError?.message ?? 'not refreshed'}`,
              fallback: `the host list read at ${info.readAt} (${info.hosts} hosts, ${(info.ageMs / 1000).toFixed(1)} s old)`,
              ageMs: info.ageMs,
            },
          ]
        : [];
    return {
      model,
      degraded: [...hostNote, ...trec.degraded],
      generation: snapshot?.generation ?? 0,
      generations: snapshot?.generations ?? {},
      booked: snapshot?.booked ?? new Map(),
      provenance,
      hosts,
      window,
      trec,
      ...(charging ? { charging } : {}),
    };
  }

  /**
   * The owner's charge classes over the window and each service's bound: the PricePlan cap (same currency only) and the
   * credits left — this period's grant (recorded once) minus what is charged and what the owner's other held offers
   * would cost. A multi-manifest request bounds each service by the same credits (docs/charging.md, limits).
   */
  private async chargingContext(owner: OwnerCharging, parsed: readonly RequestedManifest[], window: TimeWindow, hosts: HostSnapshot, ownerName: string): Promise<ModelChargingContext> {
    const { catalogue, agreement } = owner;
    const classes = chargeClasses(catalogue, agreement, window, hosts);
    let credits: ModelChargingContext['credits'];
    const plan = agreement.creditPlan ? catalogue.creditPlans.get(agreement.creditPlan) : undefined;
    if (plan) {
      const period = creditPeriod(plan.period, this.clock());
      const periodKey = `${plan.name}:${period.key}`;
      // The grant is recorded once per owner and period (the ledger makes it idempotent); asking again on every
      // admission would take the write lock each time, so a process remembers what it granted.
      const granted = this.creditsGranted.get(ownerName) === periodKey;
      const balance = granted
        ? ((await this.ledger.chargeBalance(ownerName)) ?? { amount: 0 })
        : await this.ledger.grantCredits(ownerName, periodKey, plan.credits, catalogue.currency);
      if (!granted) this.creditsGranted.set(ownerName, periodKey);
      const replaced = new Set(parsed.map((m) => m.serviceId));
      const held = (await this.ledger.list({ owner: ownerName, statuses: ['held'] }, { limit: 1000 })).items
        .filter((r) => r.chargePlan && !replaced.has(r.serviceId))
        .reduce((sum, r) => sum + plannedAmount(r.chargePlan!), 0);
      credits = { period: period.key, balance: balance.amount, held: money(held), available: money(Math.max(0, balance.amount - held)) };
    }
    // Several services in one request share the owner's credits: each is bounded by a share in proportion to the most it
    // could cost (all its VMs at the dearest class), so that whatever the solvers choose, the sum stays within them.
    const dearest = (c: { vcpus: number; memoryMb?: number }): number => Math.max(...classes.charging.classes.map((r) => vmCharge(r, c)));
    const most = parsed.map((m) => m.components.reduce((sum, c) => sum + c.maxVms * dearest(c), 0));
    const mostTotal = most.reduce((x, y) => x + y, 0);
    const creditShare = (k: number): number =>
      !credits ? Infinity : parsed.length === 1 || mostTotal <= credits.available ? credits.available : money((credits.available * most[k]!) / mostTotal);
    const perService = parsed.map((m, k) => {
      const sources: ('price-plan' | 'credits')[] = [];
      let bound: number | null = null;
      let planCap: number | null = null;
      let planFloor: number | null = null;
      let planCapNote: string | undefined;
      if (m.pricePlan) {
        const { currency, planCap: cap, planFloor: floor } = m.pricePlan;
        if (currency === undefined || currency === catalogue.currency) {
          if (floor > 0) planFloor = floor;
          if (cap !== undefined) {
            planCap = cap;
            bound = cap;
            sources.push('price-plan');
          }
        } else planCapNote = `the PricePlan is in ${currency}, the catalogue in ${catalogue.currency}: its cap and floor were not compared`;
      }
      let creditBound: number | null = null;
      if (credits) {
        creditBound = creditShare(k);
        bound = bound === null ? creditBound : Math.min(bound, creditBound);
        sources.push('credits');
      }
      return { bound, sources, planCap, planFloor, creditBound, ...(planCapNote ? { planCapNote } : {}) };
    });
    return { owner, classes, perService, ...(credits ? { credits } : {}) };
  }

  /**
   * A new window for a recorded admission (PATCH): first with the same placements; when they no longer fit, the service
   * is solved again over the new window (its own old booking does not count) and re-placed if it can be admitted exactly
   * as before — otherwise AC_ERR_CAPACITY_CONFLICT with the reasons of that solve, and the admission keeps its window.
   */
  /**
   * `keepHosts`: its VMs run on its hosts (a live deployment), so it moves in time only where those hosts have room; it
   * is never re-placed.
   */
  async reschedule(record: AdmissionRecord, window: TimeWindow, actor: string, expectedGeneration?: number, options: { readonly keepHosts?: boolean } = {}): Promise<AdmissionRecord> {
    const holdExpiresAt = record.status === 'held' && record.expirySeconds !== undefined ? this.holdExpiry(window, record.expirySeconds) : undefined;
    const catalogue = this.options.charging?.current();
    // A charged admission is priced again over its new window (same placements, same agreement and price list), and
    // the ledger settles the difference in the reschedule's transaction.
    const repriced = record.chargePlan && catalogue ? repricePlan(catalogue, record.chargePlan, window) : undefined;
    const change = { window, ...(holdExpiresAt !== undefined ? { holdExpiresAt } : {}), ...(repriced ? { chargePlan: repriced } : {}) };
    try {
      return await this.ledger.reschedule(record.id, change, actor, expectedGeneration);
    } catch (error) {
      if (!(isAdmissionError(error) && error.code === 'AC_ERR_CAPACITY_CONFLICT')) throw error;
      if (options.keepHosts) {
        throw new AdmissionError(
          'AC_ERR_CAPACITY_CONFLICT',
          `admission '${record.id}' is deployed: its VMs run on its hosts, which lack room in [${new Date(window.start).toISOString()}, ${window.end === null ? '∞' : new Date(window.end).toISOString()}), so it is not re-placed; it keeps its window`,
          error.details,
        );
      }
      const input = (record.response as { inputManifest?: unknown } | null)?.inputManifest;
      if (typeof input !== 'string') throw error;
      // The JSON body's requirements were kept beside the manifest: a re-solve honours them too.
      const inputCapabilities = (record.response as { inputCapabilities?: ManifestCapabilities } | null)?.inputCapabilities ?? null;
      const { parsed } = parseAll([input], this.options.limits ?? DEFAULT_LIMITS, [inputCapabilities]);
      const built = await this.buildModel(parsed, {
        manifests: [input],
        owner: record.owner,
        window,
        forbidFederation: [true],
        replacing: [{ window: record.window, hosts: record.hosts }],
      });
      const result = await admit(built.model, {
        solver: this.options.solver,
        timeLimitSeconds: this.options.timeLimitSeconds,
        mipRelGap: this.options.mipRelGap,
        decisionContext: { reservedByHost: built.booked },
      });
      const decision = result.services[0]!;
      const wanted = (record.response as { components?: readonly { localVms?: number }[] } | null)?.components?.reduce((t, c) => t + (c.localVms ?? 0), 0);
      if (decision.localVms === 0 || (wanted !== undefined && decision.localVms < wanted)) {
        const reasons = decision.components.flatMap((c) => c.reasons.map((r) => ({ field: `components[${c.id}]`, reason: `${r.code}: ${r.message}` })));
        throw new AdmissionError(
          'AC_ERR_CAPACITY_CONFLICT',
          `admission '${record.id}' does not fit in [${new Date(window.start).toISOString()}, ${window.end === null ? '∞' : new Date(window.end).toISOString()}): ${decision.localVms} of its ${wanted ?? '?'} VMs could be placed there; it keeps its window`,
          [...(error as AdmissionError).details, ...reasons],
        );
      }
      const hosts = hostConsumption(built.model, result, 0);
      // Re-placed: priced from the new placements (their host groups may differ).
      const agreement = record.chargePlan && catalogue?.agreements.get(record.chargePlan.agreement);
      const replaced = agreement ? chargePlan(catalogue!, agreement, window, chargeClasses(catalogue!, agreement, window, built.hosts), placementsOf(built.model, 0, decision)) : undefined;
      return this.ledger.reschedule(record.id, { ...change, hosts, ...(replaced ? { chargePlan: replaced } : {}) }, actor, expectedGeneration);
    }
  }

  /** Snapshot, model, solve and the answer to record; what it will book is reserved in memory until released. */
  private async prepare(parsed: readonly RequestedManifest[], request: AdmissionRequest, federationAvailable: boolean, avoidHosts?: ReadonlySet<string>): Promise<Prepared> {
    const built = await this.buildModel(parsed, avoidHosts && avoidHosts.size > 0 ? { ...request, avoidHosts } : request);
    const { model, degraded, generation, provenance, window } = built;
    if (request.signal?.aborted) throw abortedBefore('solving', request.signal);
    const decisionContext: DecisionContext = { federationAvailable, reservedByHost: built.booked };
    const result = await admit(model, {
      solver: request.solver ?? this.options.solver,
      timeLimitSeconds: this.options.timeLimitSeconds,
      mipRelGap: this.options.mipRelGap,
      decisionContext,
      ...(request.signal ? { signal: request.signal } : {}),
    });
    this.last = { model, result };
    const records = !request.dryRun && !request.cleanTestbed;
    const holdExpiresAt = this.holdExpiry(window, request.expirySeconds);
    const bookings: BookingInput[] = [];
    const pricedAll = built.charging ? withRequestBalance(result.services.map((decision, a) => priceDecision(built.charging!, model, a, decision, window))) : undefined;
    const services = result.services.map((decision, a): ServiceAnswer => {
      const m = parsed[a]!;
      const priced = pricedAll?.[a];
      const manifest = writeAllocationOffer(request.manifests[a]!, this.offerFor(model, a, decision, m, priced?.charge), documents.get(m));
      const hosts = hostConsumption(model, result, a);
      const base: ServiceAnswer = {
        ...withProvenance(decision, provenance[a]!),
        ...(provenance[a]!.unchecked.length > 0 ? { uncheckedBounds: provenance[a]!.unchecked } : {}),
        serviceId: m.serviceId,
        manifestIndex: m.manifestIndex,
        manifestId: m.manifestId,
        admissionId: null,
        status: null,
        window: windowJson(window),
        holdExpiresAt: null,
        manifest,
        ...(priced ? { charge: priced.charge } : {}),
      };
      if (!records || hosts.length === 0) return base;
      const answer: ServiceAnswer = { ...base, admissionId: `adm-${randomUUID()}`, status: 'held', holdExpiresAt: new Date(holdExpiresAt).toISOString() };
      bookings.push({
        id: answer.admissionId!,
        owner: request.owner,
        serviceId: m.serviceId,
        decision: decision.decision,
        window,
        holdExpiresAt,
        ...(request.expirySeconds !== undefined ? { expirySeconds: request.expirySeconds } : {}),
        hosts,
        seenGenerations: pick(built.generations, hosts.map((h) => h.hostId)),
        response: storedResponse(request, answer, request.manifests[a]!, request.capabilities?.[a], vmSizesOf(model, a)),
        ...(priced ? { chargePlan: priced.plan } : {}),
      });
      return answer;
    });
    const answer: AdmissionAnswer = {
      requestId: request.requestId,
      dryRun: request.dryRun,
      recorded: records,
      objective: result.objective,
      solver: result.solver,
      degraded,
      hostsConsidered: model.hosts.length,
      capacityGeneration: generation,
      window: windowJson(window),
      ...(request.manifestErrors && request.manifestErrors.length > 0 ? { errors: request.manifestErrors } : {}),
      services,
    };
    const release = bookings.length > 0 ? this.snapshots.reserve({ window, hosts: bookings.flatMap((b) => b.hosts) }) : () => undefined;
    return {
      answer,
      bookings,
      release,
      federationCosts: result.services.map((d, a) => federationCostEstimate(model, a, d)),
      window,
      trec: built.trec,
      solved: { model, result, decisionContext, provenance },
    };
  }

  /**
   * For each service not fully admitted: who holds capacity in its window (admission, owner, window, amount) and the
   * earliest start within the horizon at which the same request, with the same duration, would be admitted whole.
   */
  private async withInsight(prepared: Prepared, parsed: readonly RequestedManifest[], request: AdmissionRequest): Promise<Prepared> {
    const horizonMs = (this.options.earliestFitHorizonHours ?? 168) * 3_600_000;
    if (request.federation || request.cleanTestbed || prepared.answer.services.every((s) => s.decision === 'accepted')) return prepared;
    const window = prepared.window;
    const deadline = performance.now() + EARLIEST_FIT_BUDGET_MS;
    const all = await this.ledger.holders(window);
    // The requester's own held offer for a service is replaced by this admission: it holds nothing against it.
    const holdersFor = (serviceId: string): Holder[] => all.filter((h) => !(h.owner === request.owner && h.serviceId === serviceId && h.status === 'held'));
    const redecided = this.withHolders(prepared, holdersFor);
    const services = await Promise.all(
      redecided.answer.services.map(async (s, a): Promise<ServiceAnswer> => {
        if (s.decision === 'accepted') return s;
        const earliestFit = horizonMs > 0 ? await this.earliestFit(parsed[a]!, request, a, window, horizonMs, deadline, prepared.trec) : undefined;
        return { ...s, heldBy: summariseHolders(holdersFor(s.serviceId)), ...(earliestFit ? { earliestFit } : {}) };
      }),
    );
    return { ...redecided, answer: { ...redecided.answer, services } };
  }

  /**
   * CAPACITY_IN_USE names the admissions holding what is missing: decide() again on the same verified allocation, with
   * the holders per host (only the holders change; placements, decision and offer stay), answer and record alike.
   */
  private withHolders(prepared: Prepared, holdersFor: (serviceId: string) => readonly Holder[]): Prepared {
    const { model, result, decisionContext, provenance } = prepared.solved;
    const needs = prepared.answer.services.map((s) => s.components.some((c) => c.reasons.some((r) => r.code === 'CAPACITY_IN_USE')));
    if (!needs.some(Boolean)) return prepared;
    const answers = prepared.answer.services.map((s, a) => {
      if (!needs[a]) return s;
      const decision = decide(model, result.allocation, result.verification, { ...decisionContext, holdersByHost: holdersByHost(holdersFor(s.serviceId)) })[a]!;
      return { ...s, ...withProvenance(decision, provenance[a]!) };
    });
    const byId = new Map(answers.filter((s) => s.admissionId !== null).map((s) => [s.admissionId!, s]));
    const bookings = prepared.bookings.map((b) => {
      const s = byId.get(b.id);
      return s ? { ...b, response: { ...(b.response as Record<string, unknown>), summary: s.summary, components: s.components } } : b;
    });
    return { ...prepared, bookings, answer: { ...prepared.answer, services: answers } };
  }

  private async earliestFit(m: RequestedManifest, request: AdmissionRequest, a: number, window: TimeWindow, horizonMs: number, deadline: number, trec: TrecSnapshot): Promise<EarliestFit> {
    const until = window.start + horizonMs;
    const duration = window.end === null ? null : window.end - window.start;
    const span = { start: window.start, end: duration === null ? null : until + duration };
    const [holders, windows] = await Promise.all([this.ledger.holders(span), this.ledger.listWindows({ from: span.start, ...(span.end !== null ? { to: span.end } : {}) })]);
    const edges = new Set<number>();
    // A held offer keeps counting until it lapses or is confirmed (it may be): only ends free capacity for sure.
    for (const h of holders) if (h.window.end !== null) edges.add(h.window.end);
    for (const w of windows) {
      edges.add(w.window.start);
      if (w.window.end !== null) edges.add(w.window.end);
    }
    const candidates = [...edges].filter((t) => t > window.start && t <= until).sort((x, y) => x - y).slice(0, EARLIEST_FIT_CANDIDATES);
    let searched = 0;
    for (const start of candidates) {
      if (performance.now() > deadline) return { start: null, end: null, searched, complete: false, horizonEnd: new Date(until).toISOString() };
      searched++;
      const shifted = { start, end: duration === null ? null : start + duration };
      const built = await this.buildModel([m], { manifests: [request.manifests[a]!], owner: request.owner, window: shifted, forbidFederation: [true], trec });
      const result = await admit(built.model, { solver: 'greedy', timeLimitSeconds: 0.2 });
      if (result.services[0]!.decision === 'accepted') return { ...windowJson(shifted), searched, complete: true, horizonEnd: new Date(until).toISOString() };
    }
    return { start: null, end: null, searched, complete: candidates.length < EARLIEST_FIT_CANDIDATES, horizonEnd: new Date(until).toISOString() };
  }

  /** Commits the bookings (with the idempotency key when given); the answer as the client receives it. */
  private async finish(prepared: Prepared, request: AdmissionRequest, idempotency: Idempotency | undefined): Promise<CycleResult> {
    const { answer, bookings, federationCosts } = prepared;
    const records = !request.dryRun && !request.cleanTestbed;
    if (!records) return { answer, federationCosts, replayed: false };
    // A peer whose budget ran out while we solved, or a client that closed its connection, has given up on us: a booking
    // now would be held for nobody. (A plain client past its deadline still gets its late answer, and it holds.)
    const signal = request.signal;
    if (signal?.aborted && (request.federation || (isAdmissionError(signal.reason) && signal.reason.code === 'AC_ERR_CLIENT_CLOSED'))) {
      throw abortedBefore('recording', signal);
    }
    if (bookings.length === 0 && !idempotency) return { answer, federationCosts, replayed: false };
    const result = await this.ledger.book({
      bookings,
      replaceHeld: request.replaceHeld ?? true,
      ...(idempotency ? { idempotency: { ...idempotency, answer } } : {}),
      actor: request.owner,
    });
    if (result.kind === 'replayed') return { answer: replayedAnswer({ requestHash: idempotency!.requestHash, answer: result.answer }, idempotency!), federationCosts, replayed: true };
    this.options.onBooked?.();
    return { answer, federationCosts, replayed: false };
  }

  private offerFor(model: AdmissionModel, a: number, decision: ServiceDecision, m: ParsedManifest, charge?: AnswerCharge): AllocationOfferInput {
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
      ...(offered && (m.pricePlan || charge) ? { costXml: `${m.pricePlan?.xml ?? ''}${charge ? chargeXml(charge) : ''}` } : {}),
      ...(offered ? { risk: service.risk } : {}),
    };
  }
}

/** The earliest start (same duration) at which a service not admitted now would be; start null = none found. */
export interface EarliestFit {
  readonly start: string | null;
  readonly end: string | null;
  /** Candidate starts tried (instants where capacity comes back). */
  readonly searched: number;
  /** false when the time budget or the candidate cap stopped the search before the horizon. */
  readonly complete: boolean;
  readonly horizonEnd: string;
}

/** An admission holding capacity in the requested window: what the reasons name. */
export interface HeldBy {
  readonly admissionId: string;
  readonly owner: string;
  readonly serviceId: string;
  readonly status: string;
  readonly start: string;
  readonly end: string | null;
  readonly cpus: number;
  readonly memoryMb: number;
  readonly hosts: number;
}

const EARLIEST_FIT_CANDIDATES = 48;
const EARLIEST_FIT_BUDGET_MS = 400;
const MAX_HOLDERS_SHOWN = 20;

/** Holders per admission (summed over its hosts), largest first. */
function summariseHolders(holders: readonly Holder[]): HeldBy[] {
  const by = new Map<string, { h: Holder; cpus: number; memoryMb: number; hosts: number }>();
  for (const h of holders) {
    const e = by.get(h.admissionId) ?? { h, cpus: 0, memoryMb: 0, hosts: 0 };
    e.cpus += h.cpus;
    e.memoryMb += h.memoryMb;
    e.hosts++;
    by.set(h.admissionId, e);
  }
  return [...by.values()]
    .sort((x, y) => y.cpus - x.cpus || y.memoryMb - x.memoryMb || (x.h.admissionId < y.h.admissionId ? -1 : 1))
    .slice(0, MAX_HOLDERS_SHOWN)
    .map(({ h, cpus, memoryMb, hosts }) => ({ admissionId: h.admissionId, owner: h.owner, serviceId: h.serviceId, status: h.status, ...windowJson(h.window), cpus, memoryMb, hosts }));
}

/** The last model solved and its verified result. */
export interface LastSolved {
  readonly model: AdmissionModel;
  readonly result: AdmissionResult;
}

type Idempotency = { readonly owner: string; readonly key: string; readonly requestHash: string };

interface Prepared {
  readonly answer: AdmissionAnswer;
  readonly bookings: readonly BookingInput[];
  readonly release: () => void;
  readonly federationCosts: readonly number[];
  readonly window: TimeWindow;
  readonly trec: TrecSnapshot;
  /** What decide() ran on, to run it again once the holders are known. */
  readonly solved: { readonly model: AdmissionModel; readonly result: AdmissionResult; readonly decisionContext: DecisionContext; readonly provenance: readonly Provenance[] };
}

/** Per host, the admissions holding it, largest first (decisions.ts DecisionHolder). */
function holdersByHost(holders: readonly Holder[]): Map<string, DecisionHolder[]> {
  const by = new Map<string, DecisionHolder[]>();
  for (const h of holders) {
    const list = by.get(h.hostId) ?? [];
    list.push({ admissionId: h.admissionId, owner: h.owner, serviceId: h.serviceId, window: windowJson(h.window), cpus: h.cpus, memoryMb: h.memoryMb });
    by.set(h.hostId, list);
  }
  for (const list of by.values()) list.sort((x, y) => y.cpus - x.cpus || y.memoryMb - x.memoryMb || (x.admissionId < y.admissionId ? -1 : 1));
  return by;
}

/** What an admission record keeps of its answer (GET /admissions/{id}; the input manifest lets PATCH solve it again). */
function storedResponse(request: AdmissionRequest, s: ServiceAnswer, inputManifest: string, inputCapabilities: ManifestCapabilities | null | undefined, vmSizes: VmSizes | undefined): Record<string, unknown> {
  return {
    requestId: request.requestId,
    decision: s.decision,
    summary: s.summary,
    components: s.components,
    // What deploying the admission creates per VM (deploy/plan.ts): the booking's own sizes.
    ...(vmSizes ? { vmSizes } : {}),
    manifest: s.manifest,
    inputManifest,
    ...(inputCapabilities ? { inputCapabilities } : {}),
    ...(request.federation ? { federatedFor: { origin: request.federation.origin, federationId: request.federation.id } } : {}),
  };
}

/** Each component's VM size, as the booking counted it. */
function vmSizesOf(model: AdmissionModel, a: number): VmSizes {
  return Object.fromEntries(model.services[a]!.components.map((c) => [c.id, { vcpus: c.vcpus, ...(c.memoryMb !== undefined ? { memoryMb: c.memoryMb } : {}) }]));
}

/** The request as the idempotency key binds it: what was asked, not how it was transported. */
function requestHash(r: AdmissionRequest): string {
  return createHash('sha256')
    .update(
      JSON.stringify({
        manifests: r.manifests.map((m) => createHash('sha256').update(m).digest('hex')),
        window: r.window ?? null,
        expirySeconds: r.expirySeconds ?? null,
        solver: r.solver ?? null,
        forbidFederation: r.forbidFederation ?? null,
        replaceHeld: r.replaceHeld ?? true,
        capabilities: r.capabilities ?? null,
      }),
    )
    .digest('hex');
}

/** The stored answer of an idempotency key, or AC_ERR_IDEMPOTENCY_MISMATCH when the key was used for another request. */
/** What the decision log keeps of one service's answer (not the manifests: they can be large and are the client's). */
function decisionDetail(answer: AdmissionAnswer, s: ServiceAnswer, request: AdmissionRequest): Record<string, unknown> {
  return {
    summary: s.summary,
    manifestId: s.manifestId,
    manifestIndex: s.manifestIndex,
    status: s.status,
    window: s.window,
    holdExpiresAt: s.holdExpiresAt,
    recorded: answer.recorded,
    ...(request.cleanTestbed ? { cleanTestbed: true } : {}),
    solver: { name: answer.solver.name, status: answer.solver.status },
    localVms: s.localVms,
    federatedVms: s.federatedVms,
    maxVms: s.maxVms,
    trec: s.trec,
    components: s.components.map((c) => ({ id: c.id, localVms: c.localVms, federatedVms: c.federatedVms, maxVms: c.maxVms, placements: c.placements, reasons: c.reasons })),
    ...(s.heldBy ? { heldBy: s.heldBy } : {}),
    ...(s.earliestFit ? { earliestFit: s.earliestFit } : {}),
    ...(s.federation ? { federation: { status: s.federation.status, peerId: s.federation.peerId } } : {}),
    ...(request.federation ? { inbound: true } : {}),
    degraded: answer.degraded.length,
  };
}

function replayedAnswer(stored: { requestHash: string; answer: unknown }, idempotency: Idempotency): AdmissionAnswer {
  if (stored.requestHash !== idempotency.requestHash) {
    throw new AdmissionError('AC_ERR_IDEMPOTENCY_MISMATCH', `the Idempotency-Key '${idempotency.key}' was used for a different request`, [
      { field: 'Idempotency-Key', reason: 'same key, different request' },
    ]);
  }
  return { ...(stored.answer as AdmissionAnswer), replayed: true };
}

function pick(generations: Readonly<Record<string, number>>, ids: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const id of ids) if (generations[id] !== undefined) out[id] = generations[id]!;
  return out;
}

/** Where a service's TREC values and bounds came from, and which bounds could not be checked. */
interface Provenance {
  readonly values: Readonly<Record<'trust' | 'risk' | 'eco' | 'cost', string>>;
  readonly bounds: Readonly<Record<'trust' | 'risk' | 'eco' | 'cost', string>>;
  readonly unchecked: readonly UncheckedBound[];
}

/** A bound the manifest states that met a value nobody measured (TREC scales: docs/model.md, "TREC values and bounds"). */
export interface UncheckedBound {
  readonly metric: 'trust' | 'risk' | 'eco';
  /** The manifest's bound (trust and eco: at least; risk: at most). */
  readonly bound: number;
  /** The value the model would have used: the configured default or the fallback. */
  readonly value: number;
  readonly valueSource: 'default' | 'fallback';
  /** What the `unknownValues` policy made of it. */
  readonly treatedAs: 'satisfied' | 'violated';
  readonly message: string;
}

const AT_LEAST: Readonly<Record<'trust' | 'risk' | 'eco', boolean>> = { trust: true, eco: true, risk: false };

/**
 * The bounds the model checks. A bound from the manifest (the client's demand on the provider: MinimumTrustLevel on the
 * 0–5 trust scale, RiskLevel on the 1–7 risk scale) can only be checked against a measured value; against a default or
 * a fallback the policy decides — satisfied: the operator's default bound applies in its place (checked against the
 * values the operator configured, as OPTIMIS checked only the operator's bounds); violated: just out of the value's
 * reach — and the answer says so. Bounds the operator set are checked against the values the operator configured.
 */
function checkableBounds(
  effective: { readonly constraints: TrecConstraints; readonly sources: Readonly<Record<keyof TrecConstraints, string>> },
  operatorDefaults: TrecConstraints,
  measured: { readonly trust: number; readonly risk: number; readonly eco: number; readonly sources: Readonly<Record<string, string>> } | undefined,
  fallbacks: { readonly trust: number; readonly risk: number; readonly eco: number },
  policy: 'satisfy' | 'violate',
): { constraints: TrecConstraints; notes: UncheckedBound[] } {
  const constraints: { -readonly [K in keyof TrecConstraints]: number } = { ...effective.constraints };
  const notes: UncheckedBound[] = [];
  for (const metric of ['trust', 'risk', 'eco'] as const) {
    if (effective.sources[metric] !== 'manifest') continue;
    const source = measured?.sources[metric] ?? 'default';
    if (source === 'service') continue;
    const value = measured?.[metric] ?? fallbacks[metric];
    const bound = effective.constraints[metric];
    const atLeast = AT_LEAST[metric];
    const holds = atLeast ? value >= bound : value <= bound;
    if (holds) continue; // met by the default value anyway: nothing to decide
    const treatedAs = policy === 'satisfy' ? 'satisfied' : 'violated';
    constraints[metric] = policy === 'satisfy' ? operatorDefaults[metric] : atLeast ? value + 1 : value - 1;
    const origin = source === 'fallback' ? 'the TREC service failed' : 'no TREC service is configured';
    notes.push({
      metric,
      bound,
      value,
      valueSource: source === 'fallback' ? 'fallback' : 'default',
      treatedAs,
      message: `the manifest's ${metric} bound (${atLeast ? '≥' : '≤'} ${formatNumber(bound)}) was not checked: ${origin}, and the ${source === 'fallback' ? 'fallback' : 'configured default'} ${formatNumber(value)} is no measurement; treated as ${treatedAs} (trec.unknownValues)${policy === 'satisfy' ? `; the provider's default bound (${atLeast ? '≥' : '≤'} ${formatNumber(operatorDefaults[metric])}) applies instead` : ''}`,
    });
  }
  return { constraints, notes };
}

/** A number as a person writes it: no float noise, the digits it has (0.001 stays 0.001). */
function formatNumber(n: number): string {
  return String(Number(n.toPrecision(12)));
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
        // A bound the policy declared violated: the model held a stand-in bound, the reason names the manifest's.
        const unchecked = p.unchecked.find((u) => u.metric === metric && u.treatedAs === 'violated');
        if (unchecked) {
          return { ...r, message: unchecked.message, data: { ...r.data, bound: unchecked.bound, value: unchecked.value, valueSource, boundSource, checked: false } };
        }
        return {
          ...r,
          message: `${r.message} (value ${VALUE_ORIGIN[valueSource] ?? valueSource}; bound from ${BOUND_ORIGIN[boundSource] ?? boundSource})`,
          data: { ...r.data, valueSource, boundSource },
        };
      }),
    })),
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

/**
 * The offer's charge plan and the answer's charge: breakdown, bound and credits, and a BUDGET reason when the bound
 * alone explains why the service is not admitted whole — admitting it whole would cost at least the cheapest class's
 * price for every VM, and that is more than the bound (a lower bound, so the statement is true whatever the placement).
 */
function priceDecision(ctx: ModelChargingContext, model: AdmissionModel, a: number, decision: ServiceDecision, window: TimeWindow): { plan: ChargePlan; charge: AnswerCharge } {
  const { catalogue, agreement, via } = ctx.owner;
  const service = model.services[a]!;
  const plan = chargePlan(catalogue, agreement, window, ctx.classes, placementsOf(model, a, decision));
  const breakdown = breakdownOf(catalogue, plan);
  const bounds = ctx.perService[a]!;
  const reasons: AnswerCharge['reasons'][number][] = [];
  if (bounds.bound !== null && !decision.fullyAccepted) {
    const classes = ctx.classes.charging.classes;
    const cheapest = (c: (typeof service.components)[number]): number => Math.min(...classes.map((r) => r.perVcpu * c.vcpus + r.perMemoryGb * ((c.memoryMb ?? 0) / 1024) + r.perVm));
    const minimum = money(service.components.reduce((sum, c) => sum + c.maxVms * cheapest(c), 0));
    if (minimum > bounds.bound) {
      const credits = ctx.credits;
      reasons.push({
        code: 'BUDGET',
        message:
          `admitting all of ${service.id} would cost at least ${minimum} ${catalogue.currency}` +
          (breakdown.basis === 'per-hour' ? ' per hour' : '') +
          `, more than ${
            credits && bounds.creditBound !== null && bounds.bound === bounds.creditBound
              ? bounds.creditBound === credits.available
                ? `the credits left (${credits.available} ${catalogue.currency}: balance ${credits.balance}, held offers ${credits.held})`
                : `its share of the credits left (${bounds.creditBound} of ${credits.available} ${catalogue.currency}: balance ${credits.balance}, held offers ${credits.held}; shared by the request's services)`
              : `the PricePlan cap (${bounds.bound} ${catalogue.currency})`
          }` +
          `; the offer costs ${breakdown.total} ${catalogue.currency}`,
        data: {
          minimumCost: minimum,
          cost: breakdown.total,
          bound: bounds.bound,
          boundSources: bounds.sources,
          currency: catalogue.currency,
          ...(credits ? { balance: credits.balance, held: credits.held, available: credits.available, creditBound: bounds.creditBound } : {}),
        },
      });
    }
  }
  const charge: AnswerCharge = {
    ...breakdown,
    via,
    bound: bounds.bound,
    boundSources: bounds.sources,
    planCap: bounds.planCap,
    planFloor: bounds.planFloor,
    ...(bounds.planCapNote
      ? { planCapNote: bounds.planCapNote }
      : bounds.planFloor !== null && breakdown.total > 0 && breakdown.total < bounds.planFloor
        ? { planCapNote: `the charge (${breakdown.total} ${catalogue.currency}) is below the PricePlan floor (${bounds.planFloor}): the catalogue's price applies` }
        : {}),
    ...(ctx.credits ? { credits: { ...ctx.credits, bound: bounds.creditBound ?? ctx.credits.available, after: money(ctx.credits.available - breakdown.total) } } : {}),
    reasons,
  };
  return { plan, charge };
}

/** The balance after the whole request (all its services' offers), in each service's credits block. */
function withRequestBalance(priced: { plan: ChargePlan; charge: AnswerCharge }[]): { plan: ChargePlan; charge: AnswerCharge }[] {
  const total = money(priced.reduce((sum, p) => sum + p.charge.total, 0));
  return priced.map((p) => (p.charge.credits ? { ...p, charge: { ...p.charge, credits: { ...p.charge.credits, after: money(p.charge.credits.available - total) } } } : p));
}

function withoutCost(c: Partial<TrecConstraints>): Partial<TrecConstraints> {
  const { cost: _cost, ...rest } = c;
  return rest;
}

/**
 * The model's hosts with their charge classes, per host list and class map (both kept while unchanged), frozen like the
 * list they come from: the solvers' caches keyed on a frozen host list keep hitting.
 */
const classedMemo = new WeakMap<readonly AdmissionModel['hosts'][number][], { readonly classOf: ReadonlyMap<string, number>; readonly hosts: AdmissionModel['hosts'] }>();
function classedHosts(hosts: AdmissionModel['hosts'], classOf: ReadonlyMap<string, number>): AdmissionModel['hosts'] {
  const memo = classedMemo.get(hosts);
  if (memo && memo.classOf === classOf) return memo.hosts;
  const out = Object.freeze(hosts.map((h) => Object.freeze({ ...h, chargeClass: classOf.get(h.id) ?? 0 })));
  classedMemo.set(hosts, { classOf, hosts: out });
  return out;
}

/** The decision's local VMs per host, sized by their component (what a charge plan prices). */
function placementsOf(model: AdmissionModel, a: number, decision: ServiceDecision): PlacedVms[] {
  const service = model.services[a]!;
  return decision.components.flatMap((c) => {
    const component = service.components.find((x) => x.id === c.id)!;
    return c.placements.map((p) => ({ componentId: c.id, hostId: p.hostId, vms: p.basicVms + p.elasticVms, vcpus: component.vcpus, ...(component.memoryMb !== undefined ? { memoryMb: component.memoryMb } : {}) }));
  });
}

const CHARGING_NS = 'urn:eac:charging';
const xmlAttr = (v: string | number): string => String(v).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');

/**
 * The offer's charge inside opt-ip:Cost (xs:anyType, so the offer still validates against the OPTIMIS XSDs), in eac's
 * charging namespace: total, currency, basis and agreement, and one Line per component, host group and resource.
 */
function chargeXml(charge: AnswerCharge): string {
  const lines = charge.lines
    .map((l) => `<c:Line component="${xmlAttr(l.componentId)}"${l.hostGroup !== null ? ` hostGroup="${xmlAttr(l.hostGroup)}"` : ''} resource="${xmlAttr(l.resource)}" unit="${xmlAttr(l.unit)}" quantity="${l.quantity}" amount="${l.amount}"/>`)
    .join('');
  return `<c:Charge xmlns:c="${CHARGING_NS}" currency="${xmlAttr(charge.currency)}" total="${charge.total}" basis="${charge.basis}" agreement="${xmlAttr(charge.agreement)}">${lines}</c:Charge>`;
}
