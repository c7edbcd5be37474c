/**
 * The ledger's contract: the one owner of booked capacity over time (admissions with windows, capacity windows, host
 * inventory with generations), of settings (policy, constraints), of the audit trail and of the durable event outbox.
 * Asynchronous so that an embedded (SQLite) and a server (PostgreSQL) implementation serve the same callers.
 */
import type { ServiceDecisionKind } from '../admission-controller/decisions';
import type { TrecConstraints, Weights } from '../model/types';

/*
 * Conventions (every implementation, checked by test/ledger/conformance.ts):
 * - Times are epoch milliseconds (numbers) in and out of the interface; the HTTP layer converts to RFC 3339.
 * - A window is half-open: [start, end); `end: null` is open (until released). Two windows overlap iff
 *   a.start < (b.end ?? ∞) && b.start < (a.end ?? ∞): touching windows ([1,2) and [2,3)) do not overlap.
 * - The ledger owns the host inventory it checks bookings against (Placement's resource providers): syncHosts() is
 *   given what host-info reports, and every booking is checked inside the ledger's write transaction against that
 *   inventory, the capacity windows and everything else booked there — never against limits the caller passes in.
 * - Free capacity of a host at instant t: cpus − usedCpus + Σ cpusDelta of capacity windows covering t − Σ cpus of
 *   admissions holding capacity at t. Over a window: the minimum over the window (likewise memory, when the host
 *   reports memory; a host without memory does not constrain memory).
 * - An admission holds capacity over its window while its status is held (and now < holdExpiresAt), confirmed or
 *   active. Holding is judged at the ledger's clock, so a lapsed hold stops holding at once, even before the
 *   scheduler's advance() has recorded it as expired.
 * - Every change that causes an event writes the event to the outbox in the same transaction (no event lost or
 *   invented across a crash). Event sequence numbers are strictly increasing in commit order.
 * - Every change of a host's bookings or inventory increments that host's generation.
 * - Errors are AdmissionErrors from model/errors.ts: AC_ERR_NOT_FOUND, AC_ERR_CONFLICT (generation / state),
 *   AC_ERR_CAPACITY_CONFLICT (a booking does not fit; `details` name the host and the amounts),
 *   AC_ERR_IDEMPOTENCY_MISMATCH (an idempotency key reused for a different request), AC_ERR_INVALID_REQUEST.
 */

import type { ChargePlan } from '../model/charge-plan';
import type { ChargeBalance, ChargeFilter, ChargeRecord } from './charges';
export type { ChargeBalance, ChargeFilter, ChargeRecord, ChargeKind } from './charges';

export type EpochMs = number;

export interface TimeWindow {
  readonly start: EpochMs;
  /** Exclusive; null = open-ended. */
  readonly end: EpochMs | null;
}

/** Lifecycle of an admission (Promise's reservation, Blazar's lease). */
export type AdmissionStatus = 'held' | 'confirmed' | 'active' | 'ended' | 'released' | 'expired';
export const ADMISSION_STATUSES: readonly AdmissionStatus[] = ['held', 'confirmed', 'active', 'ended', 'released', 'expired'];
/** Statuses in which an admission holds capacity (a `held` one only until its hold expires). */
export const HOLDING_STATUSES: readonly AdmissionStatus[] = ['held', 'confirmed', 'active'];

/** What one admission takes on one host. */
export interface HostAmount {
  readonly hostId: string;
  readonly cpus: number;
  readonly memoryMb: number;
}

// ---------------------------------------------------------------------------------------------
// Host inventory (resource providers)

/** A host as host-info reports it (the ledger's copy is what bookings are checked against). */
export interface HostInventory {
  readonly id: string;
  readonly cpus: number;
  /** Used outside the ledger (VMs host-info sees that no admission here accounts for); assumed to persist over time. */
  readonly usedCpus: number;
  /** Absent: the host does not report memory, and memory does not constrain it. */
  readonly memoryMb?: number;
  readonly usedMemoryMb?: number;
}

export interface LedgerHost extends HostInventory {
  /** Increments on every change of this host's inventory or of what is booked on it. */
  readonly generation: number;
}

export interface HostChange {
  readonly hostId: string;
  readonly change: 'added' | 'removed' | 'resized';
  readonly before?: HostInventory;
  readonly after?: HostInventory;
}

// ---------------------------------------------------------------------------------------------
// Admissions

export interface BookingInput {
  /** Chosen by the caller (`adm-<uuid>`), unique. */
  readonly id: string;
  /** The principal that made the admission (its name); clients see and change only their own. */
  readonly owner: string;
  readonly serviceId: string;
  readonly decision: ServiceDecisionKind;
  readonly window: TimeWindow;
  /** A held offer lapses (status expired) at this instant unless confirmed before. Must be after the ledger's clock. */
  readonly holdExpiresAt: EpochMs;
  /** Promise's expiry, kept for the record (holdExpiresAt already accounts for it). */
  readonly expirySeconds?: number;
  /** Capacity taken per host (several entries for one host are added up). May be empty (everything federated). */
  readonly hosts: readonly HostAmount[];
  /** The host generations the caller's snapshot saw; informative (capacity is always re-checked in the write). */
  readonly seenGenerations?: Readonly<Record<string, number>>;
  /** Stored as is (any JSON value) and returned by get(): the service's answer for this admission. */
  readonly response: unknown;
  /** The priced offer (charging): its charges are settled from it at every state change (ledger/charges.ts). */
  readonly chargePlan?: ChargePlan;
}

export interface BookRequest {
  /** All or nothing, in one transaction. Empty only with `idempotency` (an answer that books nothing is still kept). */
  readonly bookings: readonly BookingInput[];
  /**
   * OPTIMIS's SLA manager asks twice (negotiation, then instantiation): a `held` admission of the same owner and
   * serviceId is released in the same transaction (its capacity does not count against the new booking), and the
   * new admission records `replaces: <old id>`. Confirmed / active admissions are never replaced.
   */
  readonly replaceHeld?: boolean;
  /**
   * Idempotent claims: the first answer stored under (owner, key) is returned again for the same request (same
   * requestHash), and nothing more is booked; a different requestHash under the same key → AC_ERR_IDEMPOTENCY_MISMATCH.
   */
  readonly idempotency?: { readonly owner: string; readonly key: string; readonly requestHash: string; readonly answer: unknown };
  /** Who acts (for the audit trail and events). */
  readonly actor: string;
}

export type BookResult =
  | { readonly kind: 'booked'; readonly admissions: readonly AdmissionRecord[]; readonly replaced: readonly string[] }
  | { readonly kind: 'replayed'; readonly answer: unknown };

export interface AdmissionRecord {
  readonly id: string;
  readonly owner: string;
  readonly serviceId: string;
  readonly decision: ServiceDecisionKind;
  /** As of the ledger's clock when read (a lapsed hold reads `expired` even before advance() records it). */
  readonly status: AdmissionStatus;
  readonly window: TimeWindow;
  readonly holdExpiresAt: EpochMs;
  readonly expirySeconds?: number;
  readonly createdAt: EpochMs;
  readonly confirmedAt?: EpochMs;
  /** When it was released, expired or ended (the instant it stopped holding capacity). */
  readonly closedAt?: EpochMs;
  /** Id of the held admission this one replaced. */
  readonly replaces?: string;
  /** Sorted by host id, one entry per host. */
  readonly hosts: readonly HostAmount[];
  readonly response: unknown;
  /** Increments on every change of this admission (confirm, reschedule, release…). */
  readonly generation: number;
  /** The priced offer it is charged from (charging), when it was priced. */
  readonly chargePlan?: ChargePlan;
}

export interface AdmissionFilter {
  /** Only this owner's. */
  readonly owner?: string;
  readonly serviceId?: string;
  readonly statuses?: readonly AdmissionStatus[];
  /** Only admissions whose window overlaps [from, to) (to absent = open). */
  readonly from?: EpochMs;
  readonly to?: EpochMs;
}

export interface Page<T> {
  readonly items: readonly T[];
  /** Opaque; pass back as `cursor` for the next page; null when this is the last page. */
  readonly nextCursor: string | null;
}

// ---------------------------------------------------------------------------------------------
// Capacity windows (maintenance, drains, capacity that arrives)

export interface CapacityWindowInput {
  readonly id: string;
  readonly hosts: readonly string[];
  readonly window: TimeWindow;
  /** Negative for maintenance or a drain (−cpus of the host = the whole host), positive for capacity that arrives. */
  readonly cpusDelta: number;
  readonly memoryMbDelta: number;
  readonly reason: string;
  readonly actor: string;
}

export interface CapacityWindowRecord extends Omit<CapacityWindowInput, 'actor'> {
  readonly createdAt: EpochMs;
  readonly createdBy: string;
}

/** A recorded admission that a capacity window leaves without room (it is not cancelled; the operator decides). */
export interface WindowConflict {
  readonly admissionId: string;
  readonly owner: string;
  readonly serviceId: string;
  readonly window: TimeWindow;
  readonly hostId: string;
  /** What the host lacks at the worst instant of the overlap (positive numbers). */
  readonly missingCpus: number;
  readonly missingMemoryMb: number;
}

// ---------------------------------------------------------------------------------------------
// Capacity views

/** One host over a query window. */
export interface HostCapacityView {
  readonly hostId: string;
  readonly generation: number;
  readonly cpus: number;
  readonly usedCpus: number;
  /** Peak over the window of the CPUs held by admissions. */
  readonly reservedCpus: number;
  /** Minimum over the window of Σ cpusDelta of capacity windows (negative in maintenance). */
  readonly windowCpusDelta: number;
  /** Minimum over the window of the free CPUs, clamped at 0. */
  readonly freeCpus: number;
  readonly memoryMb?: number;
  readonly usedMemoryMb?: number;
  readonly reservedMemoryMb?: number;
  readonly windowMemoryMbDelta?: number;
  readonly freeMemoryMb?: number;
}

export interface CapacityView {
  readonly window: TimeWindow;
  readonly hosts: readonly HostCapacityView[];
  readonly totals: {
    readonly cpus: number;
    readonly usedCpus: number;
    readonly reservedCpus: number;
    readonly freeCpus: number;
    readonly memoryMb: number;
    readonly usedMemoryMb: number;
    readonly reservedMemoryMb: number;
    readonly freeMemoryMb: number;
  };
}

/** An admission holding capacity on a host in a window (for reasons: who holds what the request lacks). */
export interface Holder {
  readonly admissionId: string;
  readonly owner: string;
  readonly serviceId: string;
  readonly status: AdmissionStatus;
  readonly window: TimeWindow;
  /** Held offers only: when the hold lapses (and the capacity is free again unless confirmed). */
  readonly holdExpiresAt?: EpochMs;
  readonly hostId: string;
  readonly cpus: number;
  readonly memoryMb: number;
}

// ---------------------------------------------------------------------------------------------
// Events (durable outbox) and subscriptions

export type EventType =
  | 'admission.held'
  | 'admission.confirmed'
  | 'admission.rescheduled'
  | 'admission.released'
  | 'admission.expired'
  | 'reservation.started'
  | 'reservation.ending'
  | 'reservation.ended'
  | 'capacity.changed'
  | 'maintenance.conflict'
  | 'host.capabilities.changed'
  | 'charge.recorded'
  | 'deployment.started'
  | 'deployment.succeeded'
  | 'deployment.failed'
  | 'deployment.terminated'
  | 'deployment.vm_lost';

export interface LedgerEvent {
  /** Strictly increasing in commit order; the cursor of polls and SSE (Last-Event-ID). */
  readonly seq: number;
  /** Globally unique (`evt-<uuid>`): the X-EAC-Event-Id of webhooks, the receiver's de-duplication key. */
  readonly id: string;
  readonly type: EventType;
  readonly at: EpochMs;
  /** The owner of the admission the event is about; null for fleet events (visible to operators and readers only). */
  readonly owner: string | null;
  /** Admission id, capacity window id or host id. */
  readonly subject: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export interface SubscriptionInput {
  readonly id: string;
  readonly owner: string;
  /** Whether the owner sees every event (operator, reader) or only its own admissions' (client). */
  readonly seesAll: boolean;
  readonly url: string;
  /** Patterns: exact types or `prefix.*`. */
  readonly events: readonly string[];
  /** HMAC-SHA256 key of X-EAC-Signature; stored, never returned. */
  readonly secret: string;
  readonly actor: string;
}

export interface DeadLetter {
  readonly eventId: string;
  readonly seq: number;
  readonly attempts: number;
  readonly lastError: string;
  readonly at: EpochMs;
}

export interface SubscriptionRecord {
  readonly id: string;
  readonly owner: string;
  readonly seesAll: boolean;
  readonly url: string;
  readonly events: readonly string[];
  readonly createdAt: EpochMs;
  /** Every event with seq ≤ cursor has been delivered (or dead-lettered). */
  readonly cursor: number;
  /** The event being delivered now, its attempts so far and when the next attempt is due. */
  readonly pending?: { readonly seq: number; readonly attempts: number; readonly nextAttemptAt: EpochMs; readonly lastError?: string };
  readonly delivered: number;
  readonly deadLetters: readonly DeadLetter[];
}

/** A subscription's next event to deliver, claimed for one delivery attempt (one deliverer at a time per subscription). */
export interface DeliveryClaim {
  readonly subscription: SubscriptionRecord & { readonly secret: string };
  readonly event: LedgerEvent;
  /** 1 for the first claim of this event; every claim counts, also one whose lease lapsed (a crashed deliverer). */
  readonly attempt: number;
  /** Opaque token to pass back to settleDelivery. */
  readonly token: string;
}

// ---------------------------------------------------------------------------------------------
// Deployments (docs/deployment.md): the VMs created in the cloud for a confirmed admission, one slot per VM

/**
 * scheduled (due at notBefore) → deploying → deployed | deploy_failed (everything created was removed again);
 * a closed admission's deployment goes terminating → terminated.
 */
export type DeploymentStatus = 'scheduled' | 'deploying' | 'deployed' | 'deploy_failed' | 'terminating' | 'terminated';
export const DEPLOYMENT_STATUSES: readonly DeploymentStatus[] = ['scheduled', 'deploying', 'deployed', 'deploy_failed', 'terminating', 'terminated'];

/**
 * planned → creating (the intent is recorded before the cloud is asked, so that a retry looks for the VM first) →
 * created (the cloud gave it an id) → deployed (on its host). removed: rolled back; terminating: asked to shut down at
 * the admission's end, not gone yet; terminated: gone at the admission's end; lost: the cloud lost or failed it, and its
 * capacity left the admission's booking.
 */
export type DeploymentVmState = 'planned' | 'creating' | 'created' | 'deployed' | 'removed' | 'terminating' | 'terminated' | 'lost';
export const DEPLOYMENT_VM_STATES: readonly DeploymentVmState[] = ['planned', 'creating', 'created', 'deployed', 'removed', 'terminating', 'terminated', 'lost'];

export interface DeploymentVm {
  /** Unique within the admission: `<componentId>-<n>` (n from 1 over the component's placements, in host order). */
  readonly slot: string;
  readonly componentId: string;
  readonly hostId: string;
  /** What this VM takes of the admission's booking on its host. */
  readonly cpus: number;
  readonly memoryMb: number;
  readonly state: DeploymentVmState;
  /** The cloud's VM id, once it gave one. */
  readonly vmId?: number;
  /** The VM template it was created from. */
  readonly templateId?: number;
  /** Why it is lost, or why its last step failed. */
  readonly error?: string;
  /** When the cloud was asked to shut it down gracefully (state terminating): past the grace, it is terminated hard. */
  readonly terminateRequestedAt?: EpochMs;
}

export interface DeploymentInput {
  /** `opennebula`. */
  readonly target: string;
  /** Every VM in state `planned`. */
  readonly vms: readonly DeploymentVm[];
}

export interface DeploymentRecord {
  readonly admissionId: string;
  readonly owner: string;
  readonly target: string;
  readonly status: DeploymentStatus;
  readonly vms: readonly DeploymentVm[];
  /** Deployment attempts started so far. */
  readonly attempts: number;
  /** The cloud's error of the last failed attempt (deploy_failed) or termination. */
  readonly error?: string;
  /** A scheduled deployment is due at this instant (the admission's start). */
  readonly notBefore: EpochMs;
  /** The process working on it and until when its claim holds (another may take over after). */
  readonly lease?: { readonly holder: string; readonly until: EpochMs };
  readonly createdAt: EpochMs;
  readonly updatedAt: EpochMs;
  /** Increments on every change: updates are compare-and-set on it. */
  readonly generation: number;
}

export interface DeploymentUpdate {
  readonly status: DeploymentStatus;
  readonly vms: readonly DeploymentVm[];
  readonly attempts: number;
  /** null clears it; absent keeps it. */
  readonly error?: string | null;
  /** null clears it; absent keeps it. */
  readonly lease?: { readonly holder: string; readonly until: EpochMs } | null;
  readonly notBefore?: EpochMs;
}

export interface DeploymentFilter {
  readonly statuses?: readonly DeploymentStatus[];
  /** Only those with notBefore ≤ dueBy. */
  readonly dueBy?: EpochMs;
  /** Only those whose admission no longer holds capacity (ended, released, expired): their VMs must go. */
  readonly admissionClosed?: boolean;
  /** Default 100, at most 1000. */
  readonly limit?: number;
}

// ---------------------------------------------------------------------------------------------
// Settings and audit

export interface PolicyRecord {
  readonly weights: Weights;
  readonly generation: number;
  readonly updatedAt: EpochMs;
}

export interface ConstraintsRecord {
  readonly constraints: TrecConstraints;
  readonly generation: number;
  readonly updatedAt: EpochMs;
}

export interface ServiceConstraintsRecord {
  readonly serviceId: string;
  readonly constraints: Partial<TrecConstraints>;
  readonly generation: number;
  readonly updatedAt: EpochMs;
}

export type ConstraintSource = 'default' | 'manifest' | 'service';

export interface EffectiveConstraints {
  readonly constraints: TrecConstraints;
  readonly sources: { readonly [K in keyof TrecConstraints]: ConstraintSource };
}

export interface AuditRecord {
  readonly seq: number;
  readonly at: EpochMs;
  readonly actor: string;
  /** e.g. `policy.set`, `constraints.default.set`, `window.created`, `admission.released`. */
  readonly action: string;
  readonly subject: string;
  readonly before: unknown;
  readonly after: unknown;
}

export interface AuditFilter {
  /** Only rows with seq > after (the cursor of the next page). */
  readonly after?: number;
  readonly limit?: number;
  readonly actor?: string;
  readonly action?: string;
  readonly subject?: string;
  /** Only rows at or after this instant. */
  readonly from?: EpochMs;
  /** Only rows before this instant (exclusive). */
  readonly to?: EpochMs;
}

// ---------------------------------------------------------------------------------------------
// Decision log: every admission answer (per service), rejections and dry-runs included

export interface DecisionInput {
  /** Chosen by the caller (`dec-<uuid>`), unique. */
  readonly id: string;
  readonly at: EpochMs;
  readonly requestId: string;
  /** The principal that asked. */
  readonly owner: string;
  readonly serviceId: string;
  /** The recorded admission, null when nothing was recorded (dry-run, rejection, replayed…). */
  readonly admissionId: string | null;
  readonly decision: ServiceDecisionKind;
  readonly dryRun: boolean;
  /** Reason codes (distinct, in order of first appearance). */
  readonly reasons: readonly string[];
  /** Wall time of the admission request, ms. */
  readonly durationMs: number;
  /** Stored as is (any JSON value): what the answer said about this service. */
  readonly detail: unknown;
}

export type DecisionRecord = DecisionInput;

export interface DecisionFilter {
  readonly owner?: string;
  readonly serviceId?: string;
  readonly admissionId?: string;
  readonly requestId?: string;
  readonly decision?: ServiceDecisionKind;
  /** Only decisions made at or after this instant. */
  readonly from?: EpochMs;
  /** Only decisions made before this instant (exclusive). */
  readonly to?: EpochMs;
}

// ---------------------------------------------------------------------------------------------
// The ledger

export interface AdvanceResult {
  /** Events the transitions emitted (already in the outbox). */
  readonly events: readonly LedgerEvent[];
  /** The next instant at which something is due (hold expiry, start, ending lead, end, window edge); null = nothing. */
  readonly nextDueAt: EpochMs | null;
}

/**
 * The operator's capability changes to one host, merged over what host-info reports (`set` wins; `removed` hides a
 * capability host-info reports). Kept per host; an emptied override stays as a row (its generation keeps counting).
 */
export interface HostCapabilityOverride {
  readonly hostId: string;
  readonly set: Readonly<Record<string, string | true>>;
  readonly removed: readonly string[];
  readonly generation: number;
  readonly updatedAt: EpochMs;
}

export interface CapabilityOverrides {
  /** Grows with every change (the sum of the rows' generations): equal versions mean equal overrides. */
  readonly version: number;
  readonly byHost: ReadonlyMap<string, HostCapabilityOverride>;
}

export interface Ledger {
  /** `sqlite`, `postgres`. */
  readonly kind: string;

  // Host inventory
  /** Replaces the inventory with host-info's snapshot: added / removed / resized hosts bump generations and emit capacity.changed. */
  syncHosts(hosts: readonly HostInventory[], actor: string): Promise<readonly HostChange[]>;
  hosts(): Promise<readonly LedgerHost[]>;

  // Capacity
  /** Per host and in total over [window.start, window.end). Hosts absent from the inventory are not listed. */
  capacity(window: TimeWindow, options?: { readonly hostIds?: readonly string[] }): Promise<CapacityView>;
  /** Admissions holding capacity in the window, on the given hosts (all when absent), largest first per host. */
  holders(window: TimeWindow, options?: { readonly hostIds?: readonly string[]; readonly excludeOwnerService?: { owner: string; serviceId: string } }): Promise<readonly Holder[]>;

  // Admissions
  /**
   * Checks every booking against capacity inside the write; AC_ERR_CAPACITY_CONFLICT names the first host that would
   * overfill (a CapacityConflictError from ledger/errors.ts: `shortage` holds host, resource, needed, free, holders). A
   * host that is not in the inventory, or was removed, is a capacity conflict too (resource `host`): the caller solved
   * on a snapshot that is out of date. Concurrent calls may share one transaction (group commit); each is all or
   * nothing on its own.
   */
  book(request: BookRequest): Promise<BookResult>;
  /** The stored answer for an idempotency key, if any (cheap pre-check before solving; book() re-checks). */
  idempotentAnswer(owner: string, key: string): Promise<{ readonly requestHash: string; readonly answer: unknown } | undefined>;
  get(id: string): Promise<AdmissionRecord | undefined>;
  list(filter: AdmissionFilter, page?: { readonly limit?: number; readonly cursor?: string }): Promise<Page<AdmissionRecord>>;
  /** held → confirmed (or active when its start has come). AC_ERR_CONFLICT when not held (expired, released…). */
  confirm(id: string, actor: string, expectedGeneration?: number, options?: { readonly deployment?: DeploymentInput }): Promise<AdmissionRecord>;
  /**
   * New window (and, when given, new hosts) for a held / confirmed / active admission, re-checked against everything
   * else (its own old booking does not count). AC_ERR_CAPACITY_CONFLICT when it does not fit.
   */
  reschedule(id: string, change: { readonly window: TimeWindow; readonly hosts?: readonly HostAmount[]; readonly holdExpiresAt?: EpochMs; readonly chargePlan?: ChargePlan }, actor: string, expectedGeneration?: number): Promise<AdmissionRecord>;
  /**
   * Stops holding capacity. Returns the record and whether this call released it (false: it was already closed, or is
   * a hold that has lapsed at the ledger's clock: it reads `expired`). AC_ERR_NOT_FOUND for an unknown id.
   */
  release(id: string, actor: string): Promise<{ readonly record: AdmissionRecord; readonly released: boolean }>;

  // Capacity windows
  /** Records the window and returns the recorded admissions it leaves without room (maintenance.conflict events emitted). */
  addWindow(input: CapacityWindowInput): Promise<{ readonly window: CapacityWindowRecord; readonly conflicts: readonly WindowConflict[] }>;
  removeWindow(id: string, actor: string): Promise<boolean>;
  listWindows(filter?: { readonly from?: EpochMs; readonly to?: EpochMs; readonly hostId?: string }): Promise<readonly CapacityWindowRecord[]>;

  // Lifecycle
  /**
   * Records every transition due at `now` (held → expired, confirmed → active, active → ended, `reservation.ending`
   * at end − endingLeadMs, capacity windows starting / ending), each once even with several processes calling it, and
   * purges history older than the retention.
   */
  advance(now: EpochMs): Promise<AdvanceResult>;

  // Events
  /** Events with seq > after, oldest first; `visibleTo` filters for a client (own admissions only). */
  events(after: number, options?: { readonly limit?: number; readonly visibleTo?: { readonly owner: string; readonly seesAll: boolean }; readonly types?: readonly string[] }): Promise<readonly LedgerEvent[]>;
  /** Appends an event that no other state change causes (e.g. a free-capacity threshold crossing). */
  emit(event: Omit<LedgerEvent, 'seq' | 'id' | 'at'> & { readonly at?: EpochMs }): Promise<LedgerEvent>;
  lastEventSeq(): Promise<number>;

  // Subscriptions (webhooks) and their deliveries
  /** Deliveries start after the last event committed before the subscription (no history). */
  subscribe(input: SubscriptionInput): Promise<SubscriptionRecord>;
  subscription(id: string): Promise<SubscriptionRecord | undefined>;
  subscriptions(filter?: { readonly owner?: string }): Promise<readonly SubscriptionRecord[]>;
  unsubscribe(id: string, actor: string): Promise<boolean>;
  /**
   * Claims the next due delivery (in seq order per subscription; one claim per subscription at a time, across
   * processes; a claim not settled within leaseMs may be claimed again). Undefined when nothing is due at `now`.
   */
  claimDelivery(now: EpochMs, leaseMs: number): Promise<DeliveryClaim | undefined>;
  /**
   * After an attempt: delivered (cursor advances), or failed (retry at retryAt, or dead-letter when retryAt is null).
   * AC_ERR_CONFLICT when the token no longer holds the claim (settled already, or its lease lapsed and it was claimed again).
   */
  settleDelivery(token: string, outcome: { readonly ok: true } | { readonly ok: false; readonly error: string; readonly retryAt: EpochMs | null }): Promise<void>;

  // Settings and audit
  policy(): Promise<PolicyRecord>;
  setPolicy(weights: Weights, actor: string, expectedGeneration?: number): Promise<PolicyRecord>;
  defaultConstraints(): Promise<ConstraintsRecord>;
  setDefaultConstraints(constraints: TrecConstraints, actor: string, expectedGeneration?: number): Promise<ConstraintsRecord>;
  serviceConstraints(serviceId: string): Promise<ServiceConstraintsRecord | undefined>;
  setServiceConstraints(serviceId: string, constraints: Partial<TrecConstraints>, actor: string, expectedGeneration?: number): Promise<ServiceConstraintsRecord>;
  deleteServiceConstraints(serviceId: string, actor: string, expectedGeneration?: number): Promise<boolean>;
  /** Bound by bound: global default ← manifest ← operator's per-service setting. */
  effectiveConstraints(serviceId: string, fromManifest?: Partial<TrecConstraints>): Promise<EffectiveConstraints>;
  /** Oldest first (by seq). */
  audit(filter?: AuditFilter): Promise<readonly AuditRecord[]>;

  // Decision log
  /** Appends decisions (one transaction); advance() purges those older than the decision retention. */
  recordDecisions(decisions: readonly DecisionInput[]): Promise<void>;
  decision(id: string): Promise<DecisionRecord | undefined>;
  /** Oldest first (by at, then id), paged like list(). */
  decisions(filter: DecisionFilter, page?: { readonly limit?: number; readonly cursor?: string }): Promise<Page<DecisionRecord>>;

  /** Cheap liveness of the database, for /ready. */
  /** Every host's capability override (operator API); host-info's own capabilities are not stored. */
  capabilityOverrides(): Promise<CapabilityOverrides>;
  /**
   * Sets (`set`: value, or null to remove) capabilities on a host, in one transaction with its audit row and a
   * `host.capabilities.changed` event. The host need not be in the inventory yet (an operator may prepare one).
   */
  setHostCapabilities(hostId: string, set: Readonly<Record<string, string | true | null>>, actor: string): Promise<HostCapabilityOverride>;
  // Charges (docs/charging.md): settled by the ledger itself at each state change of a charged admission.
  /** Records, oldest first (seq order), paged. */
  charges(filter: ChargeFilter, page?: { readonly limit?: number; readonly cursor?: string }): Promise<Page<ChargeRecord>>;
  /** The owner's balance (the sum of its records), or undefined when it has none. */
  chargeBalance(owner: string): Promise<ChargeBalance | undefined>;
  /**
   * Credits for one period, once (`periodKey` unique per owner): the unused credits of the owner's earlier grants
   * expire (a record) and the grant is recorded, in one transaction. Returns the balance after.
   */
  grantCredits(owner: string, periodKey: string, credits: number, currency: string): Promise<ChargeBalance>;

  // Deployments (docs/deployment.md). confirm() with `deployment` records one in its own transaction (status scheduled,
  // notBefore = the admission's start): a confirmed admission never lacks the record of what it must deploy.
  deployment(admissionId: string): Promise<DeploymentRecord | undefined>;
  /** Oldest notBefore first (then admission id). */
  deployments(filter: DeploymentFilter): Promise<readonly DeploymentRecord[]>;
  /**
   * Compare-and-set on the record's generation (AC_ERR_CONFLICT when it moved, AC_ERR_NOT_FOUND when there is none),
   * with its events (owner = the admission's owner, subject = the admission) in the same transaction.
   */
  updateDeployment(admissionId: string, expectedGeneration: number, update: DeploymentUpdate, events?: readonly { readonly type: EventType; readonly data: Readonly<Record<string, unknown>> }[]): Promise<DeploymentRecord>;
  /**
   * A VM the cloud lost or failed: the slot becomes `lost` (with the reason), and — while the admission holds capacity —
   * the slot's cpus and memory leave the admission's booking on its host (generations bump), with a
   * `deployment.vm_lost` event, in one transaction. A slot already lost changes nothing (`freed` null).
   */
  loseDeploymentVm(admissionId: string, slot: string, reason: string, actor: string): Promise<{ readonly record: DeploymentRecord; readonly freed: HostAmount | null }>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface LedgerOptions {
  /** Epoch ms; injectable so tests control time. Default Date.now. */
  readonly clock?: () => EpochMs;
  /** Seeds when the database has none. */
  readonly defaultWeights: Weights;
  readonly defaultConstraints: TrecConstraints;
  /** `reservation.ending` is emitted this long before an active reservation's end (Blazar's before_end). Default 10 min. */
  readonly endingLeadMs?: number;
  /** Closed admissions (ended, released, expired) and delivered events older than this are purged by advance(). Default 30 days. */
  readonly retentionMs?: number;
  /** Decisions older than this are purged by advance(). Default 30 days. */
  readonly decisionRetentionMs?: number;
  /**
   * Shares (0–1) of the fleet's CPUs: advance() emits `capacity.changed` (reason `threshold`) once each time the free
   * share now crosses one of them, downwards or upwards. Default none.
   */
  readonly freeCapacityThresholds?: readonly number[];
}
