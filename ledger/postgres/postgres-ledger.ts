/**
 * The server ledger: one PostgreSQL database shared by every replica of the service, through a pg.Pool.
 *
 * Decisions (ledger/README.md has the reasoning and the measurements):
 * - Transactions are READ COMMITTED. A write that checks capacity first locks the rows of the hosts it books
 *   (`SELECT … FROM hosts WHERE id = ANY($1) ORDER BY id FOR UPDATE`): bookings of different hosts do not wait for
 *   each other, bookings of the same host do, and taking every transaction's host locks in one statement sorted by id
 *   keeps them deadlock-free. Every change of what counts on a host (book, confirm, reschedule, release, expiry, end,
 *   capacity windows, inventory) bumps that host's generation — an UPDATE of its row — so whoever changed a host's
 *   capacity held its row lock until its commit was visible: once a writer holds the lock, its next statement sees
 *   every committed change of those hosts, and the check (the in-memory index brought up to date inside the
 *   transaction, after the lock) is exact. Lock order everywhere: advisory locks (inventory sync, purge) → host rows
 *   (sorted) → admission rows (sorted) → deployment rows → subscription rows → the `ledger_tail` row, last.
 * - Sequence numbers (events, change feed, audit) come from the one `ledger_tail` row, updated by the last statement
 *   of every writing transaction, together with the inserts of its buffered events, change rows and audit rows: its
 *   row lock is held until the commit is visible, so numbers are strictly increasing in commit order and gapless. A
 *   reader that sees seq n sees every seq below it: polling `events(after)` never skips an event. The cost is that
 *   the commits of writing transactions are serialised (each holds the tail lock through its WAL flush), which group
 *   commit (below) amortises.
 * - Capacity is answered from an in-process FleetIndex (ledger/capacity.ts), never a SQL sweep per call. A read polls
 *   `ledger_tail.change_seq` (one row); when it moved, the change rows after the last one applied are read (their
 *   count is checked: the numbers are gapless, so a missing row means purged rows and a full reload) and just those
 *   admissions / windows / hosts are re-read. Settings caches follow the same feed.
 * - `book()` calls made while a batch is being written form the next batch (group commit: one transaction and one
 *   WAL flush), each in its own savepoint, so one failing request does not take the others down.
 * - Delivery claims lock the subscription's row `FOR UPDATE SKIP LOCKED`: one deliverer per subscription across
 *   replicas, the others move on to other subscriptions; the lease (next_attempt_ms, lease_token) works as in SQLite.
 * - advance(): the transitions are conditional UPDATEs (`WHERE status = 'held' AND …`) over candidates whose hosts and
 *   rows are locked first in order: with several replicas calling it, each transition is recorded once.
 * - Durability: every connection runs with `synchronous_commit = on` unless the server or role says otherwise; open()
 *   refuses a database whose effective synchronous_commit is `off` or whose server runs with `fsync = off`
 *   (AC_ERR_CONFIG) unless `requireDurable: false` (tests, benchmarks): an acknowledged admission must survive a crash.
 * - serialization_failure and deadlock_detected are retried (whole transaction) a few times; lock_timeout
 *   (busyTimeoutMs) and lost connections are AC_ERR_TIMEOUT.
 */
import { randomUUID } from 'node:crypto';
import { Pool, type PoolClient } from 'pg';
import type { ServiceDecisionKind } from '../../admission-controller/decisions';
import { AdmissionError } from '../../model/errors';
import type { TrecConstraints, Weights } from '../../model/types';
import { EPSILON, FleetIndex, capacityView, endOf, freeOver, hostView, type Adjustment } from '../capacity';
import { CapacityConflictError, generationConflict, notFound, stateConflict } from '../errors';
import { deploymentRecord, lostVm, updatedColumns, validateDeployment, type DeploymentRow } from '../deployments';
import type {
  DeploymentFilter,
  DeploymentInput,
  DeploymentRecord,
  DeploymentUpdate,
  CapabilityOverrides,
  HostCapabilityOverride,
  AdmissionFilter,
  AdmissionRecord,
  AdmissionStatus,
  AdvanceResult,
  AuditFilter,
  AuditRecord,
  DecisionFilter,
  DecisionInput,
  DecisionRecord,
  BookingInput,
  BookRequest,
  BookResult,
  CapacityView,
  CapacityWindowInput,
  CapacityWindowRecord,
  ConstraintSource,
  ConstraintsRecord,
  DeadLetter,
  DeliveryClaim,
  EffectiveConstraints,
  EpochMs,
  EventType,
  Holder,
  HostAmount,
  HostChange,
  HostInventory,
  Ledger,
  LedgerEvent,
  LedgerHost,
  LedgerOptions,
  Page,
  PolicyRecord,
  ServiceConstraintsRecord,
  SubscriptionInput,
  SubscriptionRecord,
  TimeWindow,
  WindowConflict,
} from '../types';
import { HOLDING_STATUSES } from '../types';
import { bandCrossing, freeBandOf, invalid, jsonOf, sumByHost, validate } from '../validate';
import {
  admissionRecord,
  admissionSummary,
  capabilityOverrideOf,
  changedCapabilities,
  eventOf,
  frozen,
  inventoryOf,
  sameInventory,
  windowOf,
  windowRecord,
  type AllocationRow,
  type EventRow,
  type HostCapabilityRow,
  chargeBalance,
  chargeRecord,
  type ChargeBalanceRow,
  type ChargeRecordRow,
} from '../rows';
import { PG_TYPES, pgCode, redactUrl, retryable, unavailable, type PgError } from './connection';
import { migrateClient, type PostgresMigrationStatus } from './migrations';
import type { ChargeBalance, ChargeRecord } from '../charges';

import { MICROS, money, type ChargePlan } from '../../model/charge-plan';
import { chargeDeltas, chargeTarget, nextChargeAt, settlementKind, type ChargeFilter, type ChargeKind } from '../charges';


export interface PostgresLedgerOptions extends LedgerOptions {
  /** postgres://user:password@host:port/database (anything pg's connection strings accept). */
  readonly databaseUrl: string;
  /** Connections of the pool (plus one for the change feed). Default 10. */
  readonly poolSize?: number;
  /** How long a statement waits for a row lock before AC_ERR_TIMEOUT (PostgreSQL's lock_timeout), ms. Default 5000. */
  readonly busyTimeoutMs?: number;
  /**
   * true (default): open() refuses a server whose effective synchronous_commit is off or that runs with fsync = off
   * (an acknowledged admission could be lost in a crash). false: allowed (tests and benchmarks only).
   */
  readonly requireDurable?: boolean;
  /** Most book() requests written in one transaction (group commit). Default 64. */
  readonly maxBatch?: number;
  /**
   * `row-locks` (default): READ COMMITTED, the booked hosts' rows locked FOR UPDATE before the check.
   * `serializable`: SERIALIZABLE transactions, hosts read without locks, conflicts retried — kept only to measure the
   * alternative (bench/ledger-postgres-bench.ts --isolation serializable); the README says why it lost.
   */
  readonly isolation?: 'row-locks' | 'serializable';
}

const DEFAULT_ENDING_LEAD_MS = 10 * 60_000;
const DEFAULT_RETENTION_MS = 30 * 24 * 3600_000;
/** Change rows are kept this long (a replica whose index is further behind reloads it in full). */
const CHANGES_RETENTION_MS = 3600_000;
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;
const MAX_CACHED_OVERRIDES = 4096;
const MAX_ATTEMPTS = 8;
const BOUNDS = ['eco', 'trust', 'risk', 'cost'] as const;
/** Advisory lock keys (transaction level): inventory sync, purge. */
const SYNC_LOCK = '6657234001';
const PURGE_LOCK = '6657234002';

// ---------------------------------------------------------------------------------------------
// Row shapes.

interface HostRow {
  id: string;
  cpus: number;
  used_cpus: number;
  memory_mb: number | null;
  used_memory_mb: number | null;
  generation: number;
  removed: boolean;
}
interface AdmissionRow {
  id: string;
  owner: string;
  service_id: string;
  decision: ServiceDecisionKind;
  status: AdmissionStatus;
  start_ms: number;
  end_ms: number | null;
  hold_expires_ms: number;
  expiry_seconds: number | null;
  created_ms: number;
  confirmed_ms: number | null;
  closed_ms: number | null;
  replaces: string | null;
  generation: number;
  ending_sent: boolean;
  response_json: string;
  charge_plan_json: string | null;
  charge_next_ms: number | null;
}
interface WindowRow {
  id: string;
  start_ms: number;
  end_ms: number | null;
  cpus_delta: number;
  memory_mb_delta: number;
  reason: string;
  created_ms: number;
  created_by: string;
  started: boolean;
  ended: boolean;
}
interface SubscriptionRow {
  id: string;
  owner: string;
  sees_all: boolean;
  url: string;
  events_json: string;
  secret: string;
  created_ms: number;
  cursor: number;
  delivered: number;
  pending_seq: number | null;
  attempts: number;
  next_attempt_ms: number | null;
  last_error: string | null;
  lease_token: string | null;
}
interface PolicyRow { cost: number; eco: number; risk: number; trust: number; generation: number; updated_ms: number }
interface ConstraintsRow { eco: number; trust: number; risk: number; cost: number; generation: number; updated_ms: number }
interface ServiceConstraintsRow {
  service_id: string;
  eco: number | null;
  trust: number | null;
  risk: number | null;
  cost: number | null;
  deleted: boolean;
  generation: number;
  updated_ms: number;
}

const isHolding = (s: AdmissionStatus): boolean => s === 'held' || s === 'confirmed' || s === 'active';
const byId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const sortedUnique = (ids: Iterable<string>): string[] => [...new Set(ids)].sort(byId);









function serviceRecord(row: ServiceConstraintsRow): ServiceConstraintsRecord {
  const constraints: { -readonly [K in keyof TrecConstraints]?: number } = {};
  for (const k of BOUNDS) if (row[k] !== null) constraints[k] = row[k];
  return { serviceId: row.service_id, constraints, generation: row.generation, updatedAt: row.updated_ms };
}

function encodeCursor(createdAt: number, id: string): string {
  return Buffer.from(JSON.stringify([createdAt, id]), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): [number, string] {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && Number.isSafeInteger(v[0]) && typeof v[1] === 'string') return [v[0] as number, v[1] as string];
  } catch {
    // fall through
  }
  throw invalid('cursor', 'not a cursor this ledger returned');
}

/** Positional parameters for statements built from filters. */
interface DecisionRow {
  id: string;
  at_ms: string | number;
  request_id: string;
  owner: string;
  service_id: string;
  admission_id: string | null;
  decision: ServiceDecisionKind;
  dry_run: boolean;
  reasons_json: string;
  duration_ms: number;
  detail_json: string;
}

function decisionOfRow(r: DecisionRow): DecisionRecord {
  return {
    id: r.id,
    at: Number(r.at_ms),
    requestId: r.request_id,
    owner: r.owner,
    serviceId: r.service_id,
    admissionId: r.admission_id,
    decision: r.decision,
    dryRun: r.dry_run,
    reasons: JSON.parse(r.reasons_json) as string[],
    durationMs: Number(r.duration_ms),
    detail: JSON.parse(r.detail_json) as unknown,
  };
}

class Params {
  readonly values: unknown[] = [];
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

/** Patterns to SQL: exact types through = ANY, `prefix.*` through starts_with; `*` = no filter. */
function typeFilter(patterns: readonly string[] | undefined, p: Params, column = 'type'): string {
  if (!patterns || patterns.length === 0 || patterns.includes('*')) return '';
  const exact = patterns.filter((x) => !x.endsWith('.*'));
  const prefixes = patterns.filter((x) => x.endsWith('.*')).map((x) => x.slice(0, -1));
  const parts: string[] = [];
  if (exact.length > 0) parts.push(`${column} = ANY(${p.add(exact)}::text[])`);
  for (const x of prefixes) parts.push(`starts_with(${column}, ${p.add(x)})`);
  return ` AND (${parts.join(' OR ')})`;
}

type HostEntry = HostRow & { readonly record: LedgerHost };
interface HostState {
  readonly byId: Map<string, HostEntry>;
  /** The hosts not removed, by id (computed when first needed after a change). */
  present?: HostEntry[];
}

function hostEntry(r: HostRow): HostEntry {
  return { ...r, record: Object.freeze({ ...inventoryOf(r), generation: r.generation }) as LedgerHost };
}

// ---------------------------------------------------------------------------------------------
// Statements: every SQL text is a named prepared statement (parsed once per connection).

interface Queryable {
  query: PoolClient['query'];
}

const statementNames = new Map<string, string>();
function nameOf(sql: string): string {
  let n = statementNames.get(sql);
  if (n === undefined) statementNames.set(sql, (n = `eac_${statementNames.size}`));
  return n;
}

async function q<R>(c: Queryable, sql: string, params: readonly unknown[] = []): Promise<R[]> {
  const r = await c.query({ name: nameOf(sql), text: sql, values: params as unknown[] });
  return r.rows as R[];
}

async function one<R>(c: Queryable, sql: string, params: readonly unknown[] = []): Promise<R | undefined> {
  return (await q<R>(c, sql, params))[0];
}

type MutableEvent = { -readonly [K in keyof LedgerEvent]: LedgerEvent[K] };

/**
 * One write transaction: its client, its clock reading, the host rows it locked, and what it will append at commit
 * (events, change rows, audit rows, generation bumps) — buffered so that the tail row is locked only at the end.
 */
class Tx {
  readonly changes: { kind: 'admission' | 'window' | 'host' | 'settings'; ref: string }[] = [];
  readonly events: MutableEvent[] = [];
  readonly audits: { at: number; actor: string; action: string; subject: string; before: string | null; after: string | null }[] = [];
  readonly bumps: string[] = [];
  readonly locked = new Map<string, HostRow>();
  /** Set by the fast path of a book batch: written by the closing statement. */
  bookWrites: BookWrites | undefined;
  /** The seq before this transaction's first change row (known after the closing statement). */
  firstChange: number | null = null;
  /**
   * Applies exactly what this transaction changed to the index and the host cache, without reading it back (set by
   * the fast path of a book batch). Run after the commit only if the index had applied everything before it.
   */
  applyLocally: (() => void) | undefined;

  constructor(
    readonly c: PoolClient,
    readonly now: number,
  ) {}

  q<R>(sql: string, params: readonly unknown[] = []): Promise<R[]> {
    return q<R>(this.c, sql, params);
  }

  one<R>(sql: string, params: readonly unknown[] = []): Promise<R | undefined> {
    return one<R>(this.c, sql, params);
  }

  mark(): [number, number, number, number] {
    return [this.changes.length, this.events.length, this.audits.length, this.bumps.length];
  }

  rollbackTo(m: [number, number, number, number]): void {
    this.changes.length = m[0];
    this.events.length = m[1];
    this.audits.length = m[2];
    this.bumps.length = m[3];
  }

  change(kind: 'admission' | 'window' | 'host' | 'settings', ref: string): void {
    this.changes.push({ kind, ref });
  }

  /** Every host changed by this transaction: its generation +1 (once per call) and a change row. */
  bumpHosts(hostIds: Iterable<string>): void {
    for (const id of new Set(hostIds)) {
      this.bumps.push(id);
      this.change('host', id);
    }
  }

  /** The event, with its seq filled in at commit. */
  event(type: EventType, owner: string | null, subject: string, data: Record<string, unknown>, at: number = this.now): LedgerEvent {
    const e: MutableEvent = { seq: 0, id: `evt-${randomUUID()}`, type, at, owner, subject, data };
    this.events.push(e);
    return e;
  }

  audit(actor: string, action: string, subject: string, before: unknown, after: unknown): void {
    this.audits.push({
      at: this.now,
      actor,
      action,
      subject,
      before: before === undefined ? null : JSON.stringify(before),
      after: after === undefined ? null : JSON.stringify(after),
    });
  }
}

interface QueuedBook {
  readonly request: BookRequest;
  readonly bookings: { input: BookingInput; hosts: HostAmount[]; responseJson: string }[];
  readonly answerJson: string | undefined;
  readonly resolve: (r: BookResult) => void;
  readonly reject: (e: unknown) => void;
}

/** What the earlier requests of a batch did, for the later ones' checks. */
interface BatchState {
  /** Per host: the batch's own bookings (negative) and released offers (positive) the index does not know yet. */
  readonly adjustments: Map<string, Adjustment[]>;
  /** Offers released by the batch (no longer holders). */
  readonly released: Set<string>;
  /** Per host: the batch's own bookings, as holders. */
  readonly holders: Map<string, { id: string; cpus: number; memoryMb: number; start: number; end: number }[]>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Outcome = { ok: true; value: BookResult } | { ok: false; error: unknown };

/** What the fast path of a batch writes, in the transaction's last statement. */
interface BookWrites {
  readonly keys: { owner: string; key: string; hash: string; answerJson: string }[];
  /** released: replaced by a later request of the same batch (inserted closed). */
  readonly admissions: { b: BookingInput; responseJson: string; replaces: string | null; released: boolean }[];
  readonly allocations: [string, HostAmount][];
  /** Held offers in the database that the batch releases. */
  readonly released: string[];
}

const FINISH_CTES = `
  tail AS (
    UPDATE ledger_tail SET change_seq = change_seq + $1, event_seq = event_seq + $2, audit_seq = audit_seq + $3 WHERE id = 1 AND $1::bigint + $2::bigint + $3::bigint > 0
    RETURNING change_seq - $1 AS c0, event_seq - $2 AS e0, audit_seq - $3 AS a0),
  ch AS (
    INSERT INTO changes (seq, kind, ref, at_ms)
    SELECT tail.c0 + x.o, x.kind, x.ref, $4 FROM tail, unnest($5::text[], $6::text[]) WITH ORDINALITY AS x(kind, ref, o)),
  ev AS (
    INSERT INTO events (seq, id, type, at_ms, owner, subject, data_json)
    SELECT tail.e0 + x.o, x.id, x.type, x.at, x.owner, x.subject, x.data
    FROM tail, unnest($7::text[], $8::text[], $9::bigint[], $10::text[], $11::text[], $12::text[]) WITH ORDINALITY AS x(id, type, at, owner, subject, data, o)),
  au AS (
    INSERT INTO audit (seq, at_ms, actor, action, subject, before_json, after_json)
    SELECT tail.a0 + x.o, x.at, x.actor, x.action, x.subject, x.before, x.after
    FROM tail, unnest($13::bigint[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[]) WITH ORDINALITY AS x(at, actor, action, subject, before, after, o)),
  bumps AS (
    UPDATE hosts h SET generation = h.generation + x.n FROM unnest($19::text[], $20::int[]) AS x(id, n) WHERE h.id = x.id)`;

/** Bumps, then the tail row and what is numbered from it (its row lock is the last one the transaction takes). */
const FINISH_SQL = `WITH ${FINISH_CTES} SELECT (SELECT c0 FROM tail) AS c0, (SELECT e0 FROM tail) AS e0, NULL::int AS keys, NULL::int AS released`;

/** The same plus a batch of bookings (the fast path): idempotency keys, admissions, allocations, released offers. */
const FINISH_BOOKING_SQL = `WITH ${FINISH_CTES},
  keys AS (
    INSERT INTO idempotency_keys (owner, key, request_hash, answer_json, created_ms)
    SELECT x.owner, x.key, x.hash, x.answer, $4 FROM unnest($21::text[], $22::text[], $23::text[], $24::text[]) AS x(owner, key, hash, answer)
    ON CONFLICT DO NOTHING RETURNING 1),
  adm AS (
    INSERT INTO admissions (id, owner, service_id, decision, status, start_ms, end_ms, hold_expires_ms, expiry_seconds, created_ms, closed_ms, replaces, generation, response_json, charge_plan_json)
    SELECT x.id, x.owner, x.service, x.decision, CASE WHEN x.released THEN 'released' ELSE 'held' END, x.s, x.e, x.hold, x.expiry, $4,
           CASE WHEN x.released THEN $4::bigint END, x.replaces, CASE WHEN x.released THEN 2 ELSE 1 END, x.response, x.plan
    FROM unnest($25::text[], $26::text[], $27::text[], $28::text[], $29::bigint[], $30::bigint[], $31::bigint[], $32::float8[], $33::text[], $34::text[], $35::boolean[], $41::text[])
      AS x(id, owner, service, decision, s, e, hold, expiry, replaces, response, released, plan)),
  alloc AS (
    INSERT INTO allocations (admission_id, host_id, cpus, memory_mb) SELECT * FROM unnest($36::text[], $37::text[], $38::float8[], $39::float8[])),
  rel AS (
    UPDATE admissions SET status = 'released', closed_ms = $4, generation = generation + 1 WHERE id = ANY($40::text[]) AND status = 'held' RETURNING 1)
  SELECT (SELECT c0 FROM tail) AS c0, (SELECT e0 FROM tail) AS e0, (SELECT count(*)::int FROM keys) AS keys, (SELECT count(*)::int FROM rel) AS released`;

/** The fast path of a batch met something only the slow path (one savepoint per request) decides right. */
class Fallback extends Error {}

/** The (owner, service) pairs whose held offers the batch's replaceHeld requests replace. */
function replacePairs(batch: readonly QueuedBook[]): (readonly [string, string])[] {
  return batch.filter((i) => i.request.replaceHeld).flatMap((i) => i.bookings.map((b) => [b.input.owner, b.input.serviceId] as const));
}

export class PostgresLedger implements Ledger {
  readonly kind = 'postgres';
  /** The database URL without its password. */
  readonly database: string;
  /** What the server reported at open (the durability tests read it back). */
  durability: { readonly synchronousCommit: string; readonly fsync: string } = { synchronousCommit: 'unknown', fsync: 'unknown' };
  migrations!: PostgresMigrationStatus;

  private readonly pool: Pool;
  /** One connection for the change feed and the caches (reads outside transactions that must not wait for the pool). */
  private readonly feed: Pool;
  private readonly clock: () => EpochMs;
  private readonly endingLeadMs: number;
  private readonly retentionMs: number;
  private readonly decisionRetentionMs: number;
  /** Ascending, distinct (LedgerOptions.freeCapacityThresholds). */
  private readonly thresholds: readonly number[];
  private readonly requireDurable: boolean;
  private readonly maxBatch: number;
  private readonly serializable: boolean;
  /** Transactions run again after a serialization failure or deadlock (for the bench). */
  retries = 0;
  private readonly seedWeights: Weights;
  private readonly seedConstraints: TrecConstraints;

  private readonly index = new FleetIndex();
  /** Seq of the last change row applied to the index (and the caches). */
  private indexSeq = 0;
  private hostState: HostState = { byId: new Map() };
  /** Pulls of the change feed run one after another (they mutate the index). */
  private pullChain: Promise<void> = Promise.resolve();
  /** A pull outside transactions that has not started yet: callers arriving now join it. */
  private queuedRefresh: Promise<void> | undefined;

  /** Settings caches, dropped by `settings` change rows; `epoch` guards against filling them with a value read before a drop. */
  private settingsEpoch = 0;
  private policyCache: PolicyRecord | undefined;
  private defaultsCache: ConstraintsRecord | undefined;
  private readonly overrides = new Map<string, ServiceConstraintsRecord | null>();

  private readonly bookQueue: QueuedBook[] = [];
  private flushing = false;
  private flushScheduled = false;
  private idleWaiters: (() => void)[] = [];
  private closed = false;

  private constructor(options: PostgresLedgerOptions) {
    this.clock = options.clock ?? Date.now;
    this.endingLeadMs = options.endingLeadMs ?? DEFAULT_ENDING_LEAD_MS;
    this.retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    this.decisionRetentionMs = options.decisionRetentionMs ?? DEFAULT_RETENTION_MS;
    if (!(this.decisionRetentionMs > 0)) throw invalid('decisionRetentionMs', 'expected a positive number of ms');
    this.thresholds = validate.thresholds(options.freeCapacityThresholds);
    this.requireDurable = options.requireDurable ?? true;
    this.maxBatch = options.maxBatch ?? 64;
    this.serializable = options.isolation === 'serializable';
    this.seedWeights = validate.weights(options.defaultWeights);
    this.seedConstraints = validate.constraints(options.defaultConstraints);
    if (typeof options.databaseUrl !== 'string' || options.databaseUrl === '') throw invalid('databaseUrl', 'expected a postgres:// URL');
    this.database = redactUrl(options.databaseUrl);
    const common = {
      connectionString: options.databaseUrl,
      types: PG_TYPES,
      lock_timeout: options.busyTimeoutMs ?? 5000,
      idle_in_transaction_session_timeout: 60_000,
      connectionTimeoutMillis: Math.max(options.busyTimeoutMs ?? 5000, 5000),
      application_name: 'eac-ledger',
    };
    this.pool = new Pool({ ...common, max: options.poolSize ?? 10 });
    this.feed = new Pool({ ...common, max: 1 });
    // An idle connection the server closed (restart, failover) is an 'error' event, not a crash: the pool replaces it.
    this.pool.on('error', () => undefined);
    this.feed.on('error', () => undefined);
  }

  /** Connects, checks durability, migrates (under the advisory lock), seeds the settings and loads the index. */
  static async open(options: PostgresLedgerOptions): Promise<PostgresLedger> {
    const ledger = new PostgresLedger(options);
    try {
      await ledger.init();
    } catch (e) {
      await ledger.pool.end().catch(() => undefined);
      await ledger.feed.end().catch(() => undefined);
      throw e;
    }
    return ledger;
  }

  private async init(): Promise<void> {
    let c: PoolClient;
    try {
      c = await this.pool.connect();
    } catch (e) {
      throw new AdmissionError('AC_ERR_CONFIG', `cannot connect to the database ${this.database}: ${(e as Error).message}`, [{ field: 'databaseUrl', reason: (e as Error).message }]);
    }
    try {
      const sc = (await c.query<{ synchronous_commit: string }>('SHOW synchronous_commit')).rows[0]!.synchronous_commit;
      const fsync = (await c.query<{ fsync: string }>('SHOW fsync')).rows[0]!.fsync;
      this.durability = { synchronousCommit: sc, fsync };
      if (this.requireDurable && (sc === 'off' || fsync === 'off')) {
        const what = sc === 'off' ? `synchronous_commit = off` : `fsync = off`;
        throw new AdmissionError(
          'AC_ERR_CONFIG',
          `the database ${this.database} runs with ${what}: a commit it acknowledges can be lost in a crash, so the ledger refuses it (set ${sc === 'off' ? 'synchronous_commit = on' : 'fsync = on'})`,
          [{ field: 'databaseUrl', reason: what }],
        );
      }
      this.migrations = await migrateClient(c, this.database, this.clock);
      const now = this.clock();
      const w = this.seedWeights;
      const k = this.seedConstraints;
      await c.query('INSERT INTO policy (id, cost, eco, risk, trust, generation, updated_ms) VALUES (1, $1, $2, $3, $4, 1, $5) ON CONFLICT (id) DO NOTHING', [w.cost, w.eco, w.risk, w.trust, now]);
      await c.query('INSERT INTO default_constraints (id, eco, trust, risk, cost, generation, updated_ms) VALUES (1, $1, $2, $3, $4, 1, $5) ON CONFLICT (id) DO NOTHING', [
        k.eco,
        k.trust,
        k.risk,
        k.cost,
        now,
      ]);
    } finally {
      c.release();
    }
    await this.chained(() => this.fullReload());
  }

  // -------------------------------------------------------------------------------------------
  // Plumbing.

  private mapError(e: unknown): unknown {
    if (e instanceof AdmissionError) return e;
    return unavailable(e, this.database) ?? e;
  }

  /**
   * Runs fn in one READ COMMITTED transaction on a pool connection, appends what it buffered (generation bumps, then
   * change rows, events and audit rows numbered from the tail row) and commits. serialization failures and deadlocks
   * run it again.
   */
  private async tx<T>(fn: (t: Tx) => Promise<T>): Promise<T> {
    if (this.closed) throw new AdmissionError('AC_ERR_INTERNAL', 'the ledger is closed');
    for (let attempt = 1; ; attempt++) {
      let c: PoolClient;
      try {
        c = await this.pool.connect();
      } catch (e) {
        throw this.mapError(e);
      }
      let broken = false;
      try {
        await c.query(this.serializable ? 'BEGIN ISOLATION LEVEL SERIALIZABLE' : 'BEGIN');
        const t = new Tx(c, this.clock());
        const result = await fn(t);
        await this.finish(t);
        await c.query('COMMIT');
        if (t.applyLocally && t.firstChange !== null) this.applyOwn(t.firstChange, t.changes.length, t.applyLocally);
        return result;
      } catch (e) {
        try {
          await c.query('ROLLBACK');
        } catch {
          broken = true;
        }
        if (retryable(e) && attempt < (this.serializable ? 50 : MAX_ATTEMPTS)) {
          this.retries++;
          await sleep(Math.random() * Math.min(50, 2 ** attempt));
          continue;
        }
        throw this.mapError(e);
      } finally {
        c.release(broken);
      }
    }
  }

  /**
   * The transaction's last statement: generation bumps (of host rows it holds already), a batch's bookings when the
   * fast path wrote one, then the tail row and the rows numbered from it — one round trip while the locks are held.
   */
  private async finish(t: Tx): Promise<void> {
    const nc = t.changes.length;
    const ne = t.events.length;
    const na = t.audits.length;
    if (nc + ne + na + t.bumps.length === 0 && !t.bookWrites) return;
    const counts = new Map<string, number>();
    for (const id of t.bumps) counts.set(id, (counts.get(id) ?? 0) + 1);
    const bumped = sortedUnique(counts.keys());
    const params: unknown[] = [
      nc,
      ne,
      na,
      t.now,
      t.changes.map((x) => x.kind),
      t.changes.map((x) => x.ref),
      t.events.map((e) => e.id),
      t.events.map((e) => e.type),
      t.events.map((e) => e.at),
      t.events.map((e) => e.owner),
      t.events.map((e) => e.subject),
      t.events.map((e) => JSON.stringify(e.data)),
      t.audits.map((a) => a.at),
      t.audits.map((a) => a.actor),
      t.audits.map((a) => a.action),
      t.audits.map((a) => a.subject),
      t.audits.map((a) => a.before),
      t.audits.map((a) => a.after),
      bumped,
      bumped.map((id) => counts.get(id)!),
    ];
    const w = t.bookWrites;
    if (w) {
      params.push(
        w.keys.map((k) => k.owner),
        w.keys.map((k) => k.key),
        w.keys.map((k) => k.hash),
        w.keys.map((k) => k.answerJson),
        w.admissions.map((a) => a.b.id),
        w.admissions.map((a) => a.b.owner),
        w.admissions.map((a) => a.b.serviceId),
        w.admissions.map((a) => a.b.decision),
        w.admissions.map((a) => a.b.window.start),
        w.admissions.map((a) => a.b.window.end),
        w.admissions.map((a) => a.b.holdExpiresAt),
        w.admissions.map((a) => a.b.expirySeconds ?? null),
        w.admissions.map((a) => a.replaces),
        w.admissions.map((a) => a.responseJson),
        w.admissions.map((a) => a.released),
        w.allocations.map((a) => a[0]),
        w.allocations.map((a) => a[1].hostId),
        w.allocations.map((a) => a[1].cpus),
        w.allocations.map((a) => a[1].memoryMb),
        w.released,
        w.admissions.map((a) => (a.b.chargePlan ? JSON.stringify(a.b.chargePlan) : null)),
      );
    }
    let row: { c0: number | null; e0: number | null; keys: number | null; released: number | null };
    try {
      row = (await t.one<typeof row>(w ? FINISH_BOOKING_SQL : FINISH_SQL, params))!;
    } catch (e) {
      // An admission id that exists already (or was booked by another replica meanwhile): the slow path names it.
      if (w && pgCode(e) === '23505') throw new Fallback('duplicate key');
      throw e;
    }
    t.firstChange = row.c0;
    if (w && (row.keys !== w.keys.length || row.released !== w.released.length)) {
      // A key another replica claimed since it was read (that request must replay), or an offer changed meanwhile.
      throw new Fallback('the batch met a concurrent change');
    }
    if (ne > 0) t.events.forEach((e, i) => (e.seq = row.e0! + i + 1));
  }

  /**
   * After a commit whose change rows are first+1 … first+n: when the index stands exactly at `first` (nothing else
   * committed in between — the tail row serialises commits), it applies them from memory and moves on to first+n;
   * otherwise the next pull reads them back as usual.
   */
  private applyOwn(first: number, n: number, apply: () => void): void {
    void this.chained(async () => {
      if (this.indexSeq !== first) return;
      apply();
      this.indexSeq = first + n;
    });
  }

  /**
   * Locks the host rows (sorted by id, one statement) and returns them. Hosts not in the table are absent from the
   * map. Hosts this transaction holds already are not asked again.
   */
  private async lockHosts(t: Tx, hostIds: Iterable<string>): Promise<Map<string, HostRow>> {
    const wanted = sortedUnique(hostIds).filter((id) => !t.locked.has(id));
    if (wanted.length > 0) {
      const rows = await t.q<HostRow>(
        this.serializable ? 'SELECT * FROM hosts WHERE id = ANY($1::text[]) ORDER BY id' : 'SELECT * FROM hosts WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE',
        [wanted],
      );
      for (const r of rows) t.locked.set(r.id, r);
    }
    return t.locked;
  }

  /** Runs fn after every pull queued before it (pulls mutate the index and must not interleave). */
  private chained(fn: () => Promise<void>): Promise<void> {
    const run = this.pullChain.then(fn);
    this.pullChain = run.catch(() => undefined);
    return run;
  }

  /** Outside transactions: the index and caches reflect every commit made before this call once it resolves. */
  private refresh(): Promise<void> {
    if (this.queuedRefresh) return this.queuedRefresh;
    const p = this.chained(async () => {
      this.queuedRefresh = undefined;
      await this.pullVia(this.feed);
    }).catch((e: unknown) => {
      throw this.mapError(e);
    });
    this.queuedRefresh = p;
    return p;
  }

  /** Inside a transaction (after its locks): the index brought up to date through the transaction's own connection. */
  private async pullIn(t: Tx): Promise<void> {
    await this.chained(() => this.pullVia(t.c));
    this.index.setNow(t.now);
  }

  /** Applies the change rows after indexSeq, or reloads in full when some were purged before this replica saw them. */
  private async pullVia(c: Queryable): Promise<void> {
    const tail = (await one<{ change_seq: number; changes_purged_through: number }>(c, 'SELECT change_seq, changes_purged_through FROM ledger_tail WHERE id = 1'))!;
    if (tail.change_seq === this.indexSeq) return;
    if (tail.changes_purged_through > this.indexSeq) {
      await this.fullReload();
      return;
    }
    const rows = await q<{ kind: 'admission' | 'window' | 'host' | 'settings'; ref: string }>(c, 'SELECT kind, ref FROM changes WHERE seq > $1 AND seq <= $2 ORDER BY seq', [
      this.indexSeq,
      tail.change_seq,
    ]);
    // The numbers are gapless: fewer rows than numbers means rows were purged meanwhile.
    if (rows.length !== tail.change_seq - this.indexSeq) {
      await this.fullReload();
      return;
    }
    const admissions = new Set<string>();
    const windows = new Set<string>();
    const hosts = new Set<string>();
    let settings = false;
    for (const r of rows) {
      if (r.kind === 'admission') admissions.add(r.ref);
      else if (r.kind === 'window') windows.add(r.ref);
      else if (r.kind === 'host') hosts.add(r.ref);
      else settings = true;
    }
    if (admissions.size > 0) {
      const ids = [...admissions];
      const found = await q<Pick<AdmissionRow, 'id' | 'status' | 'start_ms' | 'end_ms' | 'hold_expires_ms'> & { host_id: string | null; cpus: number | null; memory_mb: number | null }>(
        c,
        `SELECT a.id, a.status, a.start_ms, a.end_ms, a.hold_expires_ms, al.host_id, al.cpus, al.memory_mb
         FROM admissions a LEFT JOIN allocations al ON al.admission_id = a.id
         WHERE a.id = ANY($1::text[]) ORDER BY a.id, al.host_id`,
        [ids],
      );
      const seen = new Set<string>();
      let i = 0;
      while (i < found.length) {
        const first = found[i]!;
        const hs: { hostId: string; cpus: number; memoryMb: number }[] = [];
        while (i < found.length && found[i]!.id === first.id) {
          const r = found[i++]!;
          if (r.host_id !== null) hs.push({ hostId: r.host_id, cpus: r.cpus!, memoryMb: r.memory_mb! });
        }
        seen.add(first.id);
        if (!isHolding(first.status)) this.index.removeBooking(first.id);
        else this.index.putBooking(first.id, { start: first.start_ms, end: first.end_ms ?? Infinity, holdUntil: first.status === 'held' ? first.hold_expires_ms : Infinity, hosts: hs });
      }
      for (const id of ids) if (!seen.has(id)) this.index.removeBooking(id);
    }
    if (windows.size > 0) {
      const ids = [...windows];
      const found = await q<WindowRow & { host_ids: string[] | null }>(
        c,
        `SELECT w.*, (SELECT array_agg(h.host_id ORDER BY h.host_id) FROM capacity_window_hosts h WHERE h.window_id = w.id) AS host_ids
         FROM capacity_windows w WHERE w.id = ANY($1::text[])`,
        [ids],
      );
      const seen = new Set<string>();
      for (const w of found) {
        seen.add(w.id);
        this.index.putWindow(w.id, { start: w.start_ms, end: w.end_ms ?? Infinity, cpusDelta: w.cpus_delta, memoryMbDelta: w.memory_mb_delta, hostIds: w.host_ids ?? [] });
      }
      for (const id of ids) if (!seen.has(id)) this.index.removeWindow(id);
    }
    if (hosts.size > 0) {
      const ids = [...hosts];
      const found = await q<HostRow>(c, 'SELECT * FROM hosts WHERE id = ANY($1::text[])', [ids]);
      const seen = new Set<string>();
      for (const r of found) {
        seen.add(r.id);
        this.hostState.byId.set(r.id, hostEntry(r));
      }
      for (const id of ids) if (!seen.has(id)) this.hostState.byId.delete(id);
      this.hostState.present = undefined;
    }
    if (settings) this.dropSettings();
    this.indexSeq = tail.change_seq;
  }

  private dropSettings(): void {
    this.settingsEpoch++;
    this.policyCache = undefined;
    this.defaultsCache = undefined;
    this.overrides.clear();
  }

  /** Rebuilds the index and caches from the tables, in one snapshot (at open, and when change rows this replica needed were purged). */
  private async fullReload(): Promise<void> {
    const c = await this.feed.connect();
    try {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const tail = (await one<{ change_seq: number }>(c, 'SELECT change_seq FROM ledger_tail WHERE id = 1'))!;
      const hostRows = await q<HostRow>(c, 'SELECT * FROM hosts');
      const rows = await q<Pick<AdmissionRow, 'id' | 'status' | 'start_ms' | 'end_ms' | 'hold_expires_ms'> & AllocationRow>(
        c,
        `SELECT a.id, a.status, a.start_ms, a.end_ms, a.hold_expires_ms, al.host_id, al.cpus, al.memory_mb
         FROM admissions a JOIN allocations al ON al.admission_id = a.id
         WHERE a.status IN ('held', 'confirmed', 'active') ORDER BY a.id`,
      );
      const windows = await q<WindowRow & { host_ids: string[] | null }>(
        c,
        `SELECT w.*, (SELECT array_agg(h.host_id ORDER BY h.host_id) FROM capacity_window_hosts h WHERE h.window_id = w.id) AS host_ids FROM capacity_windows w`,
      );
      await c.query('COMMIT');
      this.index.clear();
      this.hostState = { byId: new Map(hostRows.map((r) => [r.id, hostEntry(r)])) };
      let i = 0;
      while (i < rows.length) {
        const first = rows[i]!;
        const hosts: { hostId: string; cpus: number; memoryMb: number }[] = [];
        while (i < rows.length && rows[i]!.id === first.id) {
          const r = rows[i++]!;
          hosts.push({ hostId: r.host_id, cpus: r.cpus, memoryMb: r.memory_mb });
        }
        this.index.putBooking(first.id, { start: first.start_ms, end: first.end_ms ?? Infinity, holdUntil: first.status === 'held' ? first.hold_expires_ms : Infinity, hosts });
      }
      for (const w of windows) {
        this.index.putWindow(w.id, { start: w.start_ms, end: w.end_ms ?? Infinity, cpusDelta: w.cpus_delta, memoryMbDelta: w.memory_mb_delta, hostIds: w.host_ids ?? [] });
      }
      this.dropSettings();
      this.indexSeq = tail.change_seq;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  /** The inventory as of the last commit seen. */
  private presentHosts(): HostEntry[] {
    const h = this.hostState;
    if (!h.present) h.present = [...h.byId.values()].filter((x) => !x.removed).sort((a, b) => byId(a.id, b.id));
    return h.present;
  }

  private async admissionRow(c: Queryable, id: string, forUpdate = false): Promise<AdmissionRow | undefined> {
    return one<AdmissionRow>(c, `SELECT * FROM admissions WHERE id = $1${forUpdate ? ' FOR UPDATE' : ''}`, [id]);
  }

  private async allocations(c: Queryable, id: string): Promise<AllocationRow[]> {
    return q<AllocationRow>(c, 'SELECT * FROM allocations WHERE admission_id = $1 ORDER BY host_id', [id]);
  }

  // -------------------------------------------------------------------------------------------
  // Host inventory.

  async syncHosts(hosts: readonly HostInventory[], actor: string): Promise<readonly HostChange[]> {
    const snapshot = validate.hosts(hosts);
    validate.id(actor, 'actor');
    const diff = (current: ReadonlyMap<string, HostRow>): HostChange[] => {
      const changes: HostChange[] = [];
      const reported = new Set<string>();
      for (const h of snapshot) {
        reported.add(h.id);
        const after = inventoryOf({ id: h.id, cpus: h.cpus, used_cpus: h.usedCpus, memory_mb: h.memoryMb ?? null, used_memory_mb: h.usedMemoryMb ?? null });
        const row = current.get(h.id);
        if (!row || row.removed) changes.push({ hostId: h.id, change: 'added', after });
        else if (!sameInventory(inventoryOf(row), after)) changes.push({ hostId: h.id, change: 'resized', before: inventoryOf(row), after });
      }
      for (const row of current.values()) if (!row.removed && !reported.has(row.id)) changes.push({ hostId: row.id, change: 'removed', before: inventoryOf(row) });
      return changes.sort((a, b) => byId(a.hostId, b.hostId));
    };
    // Called often by every replica: an unchanged snapshot is answered from the cache, with no write at all.
    await this.refresh();
    if (diff(this.hostState.byId).length === 0) return [];
    return this.tx(async (t) => {
      // Inventory columns change only here, under this lock: the diff read next is exact; only the changed hosts'
      // rows are then locked (bookings of the others go on).
      await t.q('SELECT pg_advisory_xact_lock($1)', [SYNC_LOCK]);
      const current = new Map((await t.q<HostRow>('SELECT * FROM hosts')).map((r) => [r.id, r]));
      const changes = diff(current);
      if (changes.length === 0) return changes;
      await this.lockHosts(t, changes.map((c) => c.hostId));
      const removed = changes.filter((c) => c.change === 'removed').map((c) => c.hostId);
      if (removed.length > 0) await t.q('UPDATE hosts SET removed = true, generation = generation + 1, updated_ms = $2 WHERE id = ANY($1::text[])', [removed, t.now]);
      const upserts = changes.filter((c) => c.change !== 'removed').map((c) => c.after!);
      if (upserts.length > 0) {
        await t.q(
          `INSERT INTO hosts (id, cpus, used_cpus, memory_mb, used_memory_mb, generation, removed, updated_ms)
           SELECT x.id, x.cpus, x.used, x.mem, x.used_mem, 1, false, $6 FROM unnest($1::text[], $2::float8[], $3::float8[], $4::float8[], $5::float8[]) AS x(id, cpus, used, mem, used_mem)
           ORDER BY x.id
           ON CONFLICT (id) DO UPDATE SET cpus = EXCLUDED.cpus, used_cpus = EXCLUDED.used_cpus, memory_mb = EXCLUDED.memory_mb, used_memory_mb = EXCLUDED.used_memory_mb,
             removed = false, generation = hosts.generation + 1, updated_ms = EXCLUDED.updated_ms`,
          [upserts.map((a) => a.id), upserts.map((a) => a.cpus), upserts.map((a) => a.usedCpus), upserts.map((a) => a.memoryMb ?? null), upserts.map((a) => a.usedMemoryMb ?? null), t.now],
        );
      }
      for (const c of changes) {
        t.change('host', c.hostId);
        t.event('capacity.changed', null, c.hostId, { reason: 'inventory', change: c.change, hosts: [c.hostId], ...(c.before ? { before: c.before } : {}), ...(c.after ? { after: c.after } : {}), actor });
      }
      return changes;
    });
  }

  async hosts(): Promise<readonly LedgerHost[]> {
    await this.refresh();
    return this.presentHosts().map((h) => h.record);
  }

  // -------------------------------------------------------------------------------------------
  // Capacity.

  async capacity(window: TimeWindow, options: { readonly hostIds?: readonly string[] } = {}): Promise<CapacityView> {
    const w = quickWindow(window);
    await this.refresh();
    const now = this.clock();
    this.index.setNow(now);
    let selected = this.presentHosts();
    if (options.hostIds) {
      const wanted = new Set(options.hostIds);
      selected = selected.filter((h) => wanted.has(h.id));
    }
    const end = endOf(w);
    const index = this.index;
    const views = selected.map((h) => hostView(h.record, index.summary(h.id, w.start, end)));
    return capacityView(w, views);
  }

  async holders(
    window: TimeWindow,
    options: { readonly hostIds?: readonly string[]; readonly excludeOwnerService?: { owner: string; serviceId: string } } = {},
  ): Promise<readonly Holder[]> {
    const w = validate.window(window);
    const p = new Params();
    const now = p.add(this.clock());
    const parts = [
      "a.status IN ('held', 'confirmed', 'active')",
      `(a.status <> 'held' OR a.hold_expires_ms > ${now})`,
      '(al.cpus > 0 OR al.memory_mb > 0)',
      `(a.end_ms IS NULL OR a.end_ms > ${p.add(w.start)})`,
    ];
    if (w.end !== null) parts.push(`a.start_ms < ${p.add(w.end)}`);
    if (options.hostIds) parts.push(`al.host_id = ANY(${p.add([...options.hostIds])}::text[])`);
    if (options.excludeOwnerService) parts.push(`NOT (a.owner = ${p.add(options.excludeOwnerService.owner)} AND a.service_id = ${p.add(options.excludeOwnerService.serviceId)})`);
    const rows = await this.read((c) =>
      q<AdmissionRow & AllocationRow>(
        c,
        `SELECT a.id, a.owner, a.service_id, a.status, a.start_ms, a.end_ms, a.hold_expires_ms, al.host_id, al.cpus, al.memory_mb
         FROM allocations al JOIN admissions a ON a.id = al.admission_id
         WHERE ${parts.join(' AND ')}
         ORDER BY al.host_id, al.cpus DESC, al.memory_mb DESC, a.id`,
        p.values,
      ),
    );
    return rows.map((r) => ({
      admissionId: r.id,
      owner: r.owner,
      serviceId: r.service_id,
      status: r.status,
      window: windowOf(r.start_ms, r.end_ms),
      ...(r.status === 'held' ? { holdExpiresAt: r.hold_expires_ms } : {}),
      hostId: r.host_id,
      cpus: r.cpus,
      memoryMb: r.memory_mb,
    }));
  }

  /** A read outside transactions (one statement, or several that need no common snapshot). */
  private async read<T>(fn: (c: Queryable) => Promise<T>): Promise<T> {
    try {
      return await fn(this.pool);
    } catch (e) {
      throw this.mapError(e);
    }
  }

  /**
   * Whether `amount` fits on the host over the window next to everything counting in the index plus the adjustments;
   * throws the CapacityConflictError otherwise. Inside a write, with the host's row locked and the index pulled after.
   */
  private checkFits(
    host: HostRow | undefined,
    admissionId: string,
    amount: HostAmount,
    window: TimeWindow,
    adjustments: readonly Adjustment[],
    ignore: ReadonlySet<string>,
    extraHolders: readonly { id: string; cpus: number; memoryMb: number; start: number; end: number }[] = [],
  ): void {
    if (!host || host.removed) {
      throw new CapacityConflictError({
        admissionId,
        hostId: amount.hostId,
        resource: 'host',
        needed: amount.cpus,
        free: 0,
        window,
        holders: [],
        reason: host ? 'removed host' : 'unknown host',
      });
    }
    if (amount.cpus <= 0 && amount.memoryMb <= 0) return;
    const end = endOf(window);
    const free = freeOver(inventoryOf(host), this.index.minNet(host.id, window.start, end, adjustments));
    const short: ['cpus' | 'memoryMb', number, number] | undefined =
      amount.cpus > 0 && amount.cpus > free.cpus + EPSILON
        ? ['cpus', amount.cpus, free.cpus]
        : amount.memoryMb > 0 && host.memory_mb !== null && amount.memoryMb > free.memoryMb + EPSILON
          ? ['memoryMb', amount.memoryMb, free.memoryMb]
          : undefined;
    if (!short) return;
    const holders = [...this.index.holdersOn(host.id, window.start, end).filter((h) => !ignore.has(h.id)), ...extraHolders.filter((h) => !ignore.has(h.id) && h.start < end && window.start < h.end)]
      .sort((a, b) => (short[0] === 'cpus' ? b.cpus - a.cpus : b.memoryMb - a.memoryMb) || byId(a.id, b.id))
      .map((h) => h.id);
    throw new CapacityConflictError({ admissionId, hostId: host.id, resource: short[0], needed: short[1], free: short[2], window, holders });
  }

  // -------------------------------------------------------------------------------------------
  // Admissions.

  async book(request: BookRequest): Promise<BookResult> {
    validate.book(request);
    const bookings = request.bookings.map((b, i) => ({
      input: b,
      hosts: sumByHost(b.hosts),
      responseJson: jsonOf(b.response, `request.bookings[${i}].response`),
    }));
    const answerJson = request.idempotency ? jsonOf(request.idempotency.answer, 'request.idempotency.answer') : undefined;
    if (this.closed) throw new AdmissionError('AC_ERR_INTERNAL', 'the ledger is closed');
    return new Promise<BookResult>((resolve, reject) => {
      this.bookQueue.push({ request, bookings, answerJson, resolve, reject });
      if (!this.flushing && !this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => void this.flushBooks());
      }
    });
  }

  /**
   * Group commit: the book() calls queued since the last batch started are written in one transaction, each in its
   * own savepoint (a request that fails is rolled back alone and rejected; the others commit), so that N concurrent
   * admissions cost one WAL flush instead of N. One batch at a time per replica; calls made meanwhile form the next.
   */
  private async flushBooks(): Promise<void> {
    this.flushScheduled = false;
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.bookQueue.length > 0) {
        const batch = this.bookQueue.splice(0, this.maxBatch);
        await this.writeBatch(batch);
      }
    } finally {
      this.flushing = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /**
   * A batch is written by the fast path first: a few reads for the whole batch, every request decided in memory
   * (idempotency, duplicates, replaced offers, capacity — exactly as bookOne does, in call order), then one INSERT per
   * table. Anything unexpected there (a key or an id taken by another replica meanwhile, a database error) rolls it
   * back and the batch is written again by the slow path, one savepoint per request, which isolates the culprit.
   */
  private async writeBatch(batch: QueuedBook[]): Promise<void> {
    let outcomes: Outcome[];
    try {
      outcomes = await this.tx((t) => this.batchFast(t, batch));
    } catch (error) {
      const lost = unavailable(error, this.database);
      if (lost || (batch.length === 1 && !(error instanceof Fallback))) {
        for (const item of batch) item.reject(lost ?? this.mapError(error));
        return;
      }
      try {
        outcomes = await this.tx((t) => this.batchSlow(t, batch));
      } catch (e) {
        for (const item of batch) item.reject(this.mapError(e));
        return;
      }
    }
    batch.forEach((item, i) => {
      const o = outcomes[i]!;
      if (o.ok) item.resolve(o.value);
      else item.reject(o.error);
    });
  }

  /** Every host the batch books, and those of the held offers it may replace: locked at once, in order; then the index pulled. */
  private async lockBatch(t: Tx, batch: readonly QueuedBook[]): Promise<void> {
    const hostIds = new Set<string>();
    for (const item of batch) for (const b of item.bookings) for (const h of b.hosts) hostIds.add(h.hostId);
    const pairs = replacePairs(batch);
    if (pairs.length > 0) {
      const offerHosts = await t.q<{ host_id: string }>(
        `SELECT DISTINCT al.host_id FROM admissions a JOIN allocations al ON al.admission_id = a.id
         JOIN unnest($1::text[], $2::text[]) AS p(owner, service) ON a.owner = p.owner AND a.service_id = p.service
         WHERE a.status = 'held'`,
        [pairs.map((p) => p[0]), pairs.map((p) => p[1])],
      );
      for (const r of offerHosts) hostIds.add(r.host_id);
    }
    await this.lockHosts(t, hostIds);
    await this.pullIn(t);
  }

  private async batchSlow(t: Tx, batch: QueuedBook[]): Promise<Outcome[]> {
    await this.lockBatch(t, batch);
    const state: BatchState = { adjustments: new Map(), released: new Set(), holders: new Map() };
    const out: Outcome[] = [];
    const single = batch.length === 1;
    for (const item of batch) {
      const mark = t.mark();
      if (!single) await t.c.query('SAVEPOINT book');
      try {
        const { result, commit } = await this.bookOne(t, item, state);
        if (!single) await t.c.query('RELEASE SAVEPOINT book');
        commit();
        out.push({ ok: true, value: result });
      } catch (error) {
        if (single || retryable(error) || unavailable(error, this.database)) throw error;
        await t.c.query('ROLLBACK TO SAVEPOINT book');
        t.rollbackTo(mark);
        out.push({ ok: false, error: this.mapError(error) });
      }
    }
    return out;
  }

  private async batchFast(t: Tx, batch: QueuedBook[]): Promise<Outcome[]> {
    const now = t.now;
    await this.lockBatch(t, batch);
    // Ids that exist already are not looked up: the INSERT's primary key refuses them, and the slow path says which.
    const keyOf = (owner: string, key: string): string => JSON.stringify([owner, key]);
    const stored = new Map<string, { hash: string; answerJson: string }>();
    const keyed = batch.flatMap((i) => (i.request.idempotency ? [i.request.idempotency] : []));
    if (keyed.length > 0) {
      const rows = await t.q<{ owner: string; key: string; request_hash: string; answer_json: string }>(
        `SELECT k.owner, k.key, k.request_hash, k.answer_json FROM idempotency_keys k JOIN unnest($1::text[], $2::text[]) AS x(owner, key) ON k.owner = x.owner AND k.key = x.key`,
        [keyed.map((k) => k.owner), keyed.map((k) => k.key)],
      );
      for (const r of rows) stored.set(keyOf(r.owner, r.key), { hash: r.request_hash, answerJson: r.answer_json });
    }
    type Offer = { id: string; owner: string; serviceId: string; start: number; end: number | null; created: number; hosts: AllocationRow[] };
    const pairKey = (owner: string, service: string): string => JSON.stringify([owner, service]);
    const offers = new Map<string, Offer[]>();
    const pairs = replacePairs(batch);
    if (pairs.length > 0) {
      const rows = await t.q<AdmissionRow>(
        `SELECT a.* FROM admissions a JOIN (SELECT DISTINCT * FROM unnest($1::text[], $2::text[])) AS p(owner, service) ON a.owner = p.owner AND a.service_id = p.service
         WHERE a.status = 'held' AND a.hold_expires_ms > $3`,
        [pairs.map((p) => p[0]), pairs.map((p) => p[1]), now],
      );
      const allocs = rows.length === 0 ? [] : await t.q<AllocationRow>('SELECT * FROM allocations WHERE admission_id = ANY($1::text[]) ORDER BY admission_id, host_id', [rows.map((r) => r.id)]);
      // An offer booked after the batch locked its hosts: its hosts are locked now (out of order; a deadlock is retried).
      await this.lockHosts(t, allocs.map((a) => a.host_id));
      for (const r of rows) {
        const k = pairKey(r.owner, r.service_id);
        const list = offers.get(k) ?? [];
        list.push({ id: r.id, owner: r.owner, serviceId: r.service_id, start: r.start_ms, end: r.end_ms, created: r.created_ms, hosts: allocs.filter((a) => a.admission_id === r.id) });
        offers.set(k, list);
      }
    }

    const state: BatchState = { adjustments: new Map(), released: new Set(), holders: new Map() };
    const batchIds = new Set<string>();
    const batchKeys = new Map<string, { hash: string; answerJson: string }>();
    const newKeys: { owner: string; key: string; hash: string; answerJson: string }[] = [];
    const newAdmissions: { b: BookingInput; responseJson: string; replaces: string | null; released: boolean }[] = [];
    const newAllocations: [string, HostAmount][] = [];
    const releasedIds: string[] = [];
    const out: Outcome[] = [];
    for (const item of batch) {
      const { request, bookings, answerJson } = item;
      const idem = request.idempotency;
      try {
        if (idem) {
          const prior = batchKeys.get(keyOf(idem.owner, idem.key)) ?? stored.get(keyOf(idem.owner, idem.key));
          if (prior) {
            if (prior.hash !== idem.requestHash) {
              throw new AdmissionError('AC_ERR_IDEMPOTENCY_MISMATCH', `the idempotency key '${idem.key}' was used for a different request`, [
                { field: 'Idempotency-Key', reason: 'same key, different request' },
              ]);
            }
            out.push({ ok: true, value: { kind: 'replayed', answer: JSON.parse(prior.answerJson) as unknown } });
            continue;
          }
        }
        bookings.forEach(({ input: b }, i) => {
          if (b.holdExpiresAt <= now) throw invalid(`request.bookings[${i}].holdExpiresAt`, `must be after the ledger's clock (${new Date(now).toISOString()})`);
          if (batchIds.has(b.id)) throw new AdmissionError('AC_ERR_CONFLICT', `admission '${b.id}' exists already`, [{ field: `request.bookings[${i}].id`, reason: 'duplicate admission id' }]);
        });
        const adjustments = new Map<string, Adjustment[]>();
        for (const [h, list] of state.adjustments) adjustments.set(h, [...list]);
        const own: [string, Adjustment][] = [];
        const adjust = (hostId: string, a: Adjustment): void => {
          const list = adjustments.get(hostId);
          if (list) list.push(a);
          else adjustments.set(hostId, [a]);
          own.push([hostId, a]);
        };
        const replaced: { offer: Offer; by: string }[] = [];
        const replacesOf = new Map<string, string>();
        if (request.replaceHeld) {
          const seen = new Set<string>();
          for (const { input: b } of bookings) {
            const k = pairKey(b.owner, b.serviceId);
            if (seen.has(k)) continue;
            seen.add(k);
            // Held offers of the owner and service: in the database, or booked by an earlier request of this batch; newest first.
            const old = (offers.get(k) ?? []).filter((o) => !state.released.has(o.id)).sort((x, y) => y.created - x.created || byId(y.id, x.id));
            if (old.length === 0) continue;
            for (const { input: nb } of bookings) if (nb.owner === b.owner && nb.serviceId === b.serviceId) replacesOf.set(nb.id, old[0]!.id);
            for (const o of old) {
              replaced.push({ offer: o, by: b.id });
              for (const h of o.hosts) adjust(h.host_id, { start: o.start, end: o.end ?? Infinity, cpus: h.cpus, memoryMb: h.memory_mb });
            }
          }
        }
        const ignore = new Set([...state.released, ...replaced.map((r) => r.offer.id)]);
        const mine: [string, { id: string; cpus: number; memoryMb: number; start: number; end: number }][] = [];
        for (const { input: b, hosts } of bookings) {
          for (const h of hosts) {
            const extra = [...(state.holders.get(h.hostId) ?? []), ...mine.filter(([x]) => x === h.hostId).map(([, v]) => v)];
            this.checkFits(t.locked.get(h.hostId), b.id, h, b.window, adjustments.get(h.hostId) ?? [], ignore, extra);
            adjust(h.hostId, { start: b.window.start, end: endOf(b.window), cpus: -h.cpus, memoryMb: -h.memoryMb });
            mine.push([h.hostId, { id: b.id, cpus: h.cpus, memoryMb: h.memoryMb, start: b.window.start, end: endOf(b.window) }]);
          }
        }

        // Kept: recorded in the batch state and in what the transaction writes.
        for (const [h, a] of own) (state.adjustments.get(h) ?? state.adjustments.set(h, []).get(h)!).push(a);
        for (const [h, v] of mine) (state.holders.get(h) ?? state.holders.set(h, []).get(h)!).push(v);
        const touched: string[] = [];
        for (const { offer: o, by } of replaced) {
          state.released.add(o.id);
          releasedIds.push(o.id);
          const sameBatch = newAdmissions.find((a) => a.b.id === o.id);
          if (sameBatch) sameBatch.released = true;
          t.change('admission', o.id);
          touched.push(...o.hosts.map((h) => h.host_id));
          t.event('admission.released', o.owner, o.id, { serviceId: o.serviceId, window: windowOf(o.start, o.end), hosts: o.hosts.map((h) => h.host_id), reason: 'replaced', replacedBy: by });
        }
        if (idem) {
          batchKeys.set(keyOf(idem.owner, idem.key), { hash: idem.requestHash, answerJson: answerJson! });
          newKeys.push({ owner: idem.owner, key: idem.key, hash: idem.requestHash, answerJson: answerJson! });
        }
        const admissions: AdmissionRecord[] = [];
        for (const { input: b, hosts, responseJson } of bookings) {
          const replaces = replacesOf.get(b.id);
          batchIds.add(b.id);
          newAdmissions.push({ b, responseJson, replaces: replaces ?? null, released: false });
          for (const h of hosts) newAllocations.push([b.id, h]);
          const k = pairKey(b.owner, b.serviceId);
          const offer: Offer = {
            id: b.id,
            owner: b.owner,
            serviceId: b.serviceId,
            start: b.window.start,
            end: b.window.end,
            created: now,
            hosts: hosts.map((h) => ({ admission_id: b.id, host_id: h.hostId, cpus: h.cpus, memory_mb: h.memoryMb })),
          };
          (offers.get(k) ?? offers.set(k, []).get(k)!).push(offer);
          t.change('admission', b.id);
          touched.push(...hosts.map((h) => h.hostId));
          t.event('admission.held', b.owner, b.id, {
            serviceId: b.serviceId,
            decision: b.decision,
            window: b.window,
            hosts: hosts.map((h) => h.hostId),
            holdExpiresAt: b.holdExpiresAt,
            ...(replaces ? { replaces } : {}),
          });
          admissions.push({
            id: b.id,
            owner: b.owner,
            serviceId: b.serviceId,
            decision: b.decision,
            status: 'held',
            window: { start: b.window.start, end: b.window.end },
            holdExpiresAt: b.holdExpiresAt,
            ...(b.expirySeconds !== undefined ? { expirySeconds: b.expirySeconds } : {}),
            createdAt: now,
            ...(replaces ? { replaces } : {}),
            hosts,
            response: JSON.parse(responseJson) as unknown,
            generation: 1,
          });
        }
        t.bumpHosts(touched);
        out.push({ ok: true, value: { kind: 'booked', admissions, replaced: replaced.map((r) => r.offer.id) } });
      } catch (error) {
        if (!(error instanceof AdmissionError)) throw error;
        out.push({ ok: false, error });
      }
    }

    t.bookWrites = { keys: newKeys, admissions: newAdmissions, allocations: newAllocations, released: releasedIds.filter((id) => !batchIds.has(id)) };
    t.applyLocally = () => {
      for (const a of newAdmissions) {
        if (a.released) continue;
        const b = a.b;
        this.index.putBooking(b.id, { start: b.window.start, end: endOf(b.window), holdUntil: b.holdExpiresAt, hosts: b.hosts.length === 0 ? [] : sumByHost(b.hosts) });
      }
      for (const id of releasedIds) this.index.removeBooking(id);
      const counts = new Map<string, number>();
      for (const id of t.bumps) counts.set(id, (counts.get(id) ?? 0) + 1);
      for (const [id, n] of counts) {
        const row = t.locked.get(id);
        if (row) this.hostState.byId.set(id, hostEntry({ ...row, generation: row.generation + n }));
      }
      if (counts.size > 0) this.hostState.present = undefined;
    };
    return out;
  }

  /** One request of a batch, in its savepoint. `commit` records what it did in the batch state (called once it is kept). */
  private async bookOne(t: Tx, item: QueuedBook, state: BatchState): Promise<{ result: BookResult; commit: () => void }> {
    const { request, bookings, answerJson } = item;
    const now = t.now;
    const idem = request.idempotency;
    const nothing = (): void => undefined;
    if (idem) {
      // The key is claimed first: a concurrent request with the same key (another replica) waits here for this
      // transaction, then finds the key taken and replays.
      const claimed = await t.q('INSERT INTO idempotency_keys (owner, key, request_hash, answer_json, created_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING 1 AS x', [
        idem.owner,
        idem.key,
        idem.requestHash,
        answerJson,
        now,
      ]);
      if (claimed.length === 0) {
        const stored = (await t.one<{ request_hash: string; answer_json: string }>('SELECT request_hash, answer_json FROM idempotency_keys WHERE owner = $1 AND key = $2', [idem.owner, idem.key]))!;
        if (stored.request_hash === idem.requestHash) return { result: { kind: 'replayed', answer: JSON.parse(stored.answer_json) as unknown }, commit: nothing };
        throw new AdmissionError('AC_ERR_IDEMPOTENCY_MISMATCH', `the idempotency key '${idem.key}' was used for a different request`, [
          { field: 'Idempotency-Key', reason: 'same key, different request' },
        ]);
      }
    }
    bookings.forEach(({ input: b }, i) => {
      if (b.holdExpiresAt <= now) throw invalid(`request.bookings[${i}].holdExpiresAt`, `must be after the ledger's clock (${new Date(now).toISOString()})`);
    });
    if (bookings.length > 0) {
      const existing = new Set((await t.q<{ id: string }>('SELECT id FROM admissions WHERE id = ANY($1::text[])', [bookings.map((b) => b.input.id)])).map((r) => r.id));
      bookings.forEach(({ input: b }, i) => {
        if (existing.has(b.id)) throw new AdmissionError('AC_ERR_CONFLICT', `admission '${b.id}' exists already`, [{ field: `request.bookings[${i}].id`, reason: 'duplicate admission id' }]);
      });
    }

    // This request's view: the batch's earlier requests, plus what it releases itself.
    const adjustments = new Map<string, Adjustment[]>();
    for (const [h, list] of state.adjustments) adjustments.set(h, [...list]);
    const own: [string, Adjustment][] = [];
    const adjust = (hostId: string, a: Adjustment): void => {
      const list = adjustments.get(hostId);
      if (list) list.push(a);
      else adjustments.set(hostId, [a]);
      own.push([hostId, a]);
    };
    const replaced: { id: string; owner: string; by: string; hosts: AllocationRow[]; row: AdmissionRow }[] = [];
    const replacesOf = new Map<string, string>();
    if (request.replaceHeld) {
      const seen = new Set<string>();
      for (const { input: b } of bookings) {
        const pair = JSON.stringify([b.owner, b.serviceId]);
        if (seen.has(pair)) continue;
        seen.add(pair);
        const old = await t.q<AdmissionRow>(
          "SELECT * FROM admissions WHERE owner = $1 AND service_id = $2 AND status = 'held' AND hold_expires_ms > $3 ORDER BY created_ms DESC, id DESC",
          [b.owner, b.serviceId, now],
        );
        if (old.length === 0) continue;
        for (const { input: nb } of bookings) if (nb.owner === b.owner && nb.serviceId === b.serviceId) replacesOf.set(nb.id, old[0]!.id);
        const allocs = await t.q<AllocationRow>('SELECT * FROM allocations WHERE admission_id = ANY($1::text[]) ORDER BY admission_id, host_id', [old.map((o) => o.id)]);
        // An offer booked after the batch locked its hosts: its hosts are locked now (out of order; a deadlock is retried).
        await this.lockHosts(t, allocs.map((a) => a.host_id));
        for (const o of old) {
          const hosts = allocs.filter((a) => a.admission_id === o.id);
          replaced.push({ id: o.id, owner: o.owner, by: b.id, hosts, row: o });
          // Offers the batch released already do not count twice.
          if (state.released.has(o.id)) continue;
          for (const h of hosts) adjust(h.host_id, { start: o.start_ms, end: o.end_ms ?? Infinity, cpus: h.cpus, memoryMb: h.memory_mb });
        }
      }
    }
    const ignore = new Set([...state.released, ...replaced.map((r) => r.id)]);

    // Every booking on every host it uses, next to everything else (and the batch's and the request's earlier bookings).
    const mine: [string, { id: string; cpus: number; memoryMb: number; start: number; end: number }][] = [];
    for (const { input: b, hosts } of bookings) {
      for (const h of hosts) {
        const extra = [...(state.holders.get(h.hostId) ?? []), ...mine.filter(([x]) => x === h.hostId).map(([, v]) => v)];
        this.checkFits(t.locked.get(h.hostId), b.id, h, b.window, adjustments.get(h.hostId) ?? [], ignore, extra);
        adjust(h.hostId, { start: b.window.start, end: endOf(b.window), cpus: -h.cpus, memoryMb: -h.memoryMb });
        mine.push([h.hostId, { id: b.id, cpus: h.cpus, memoryMb: h.memoryMb, start: b.window.start, end: endOf(b.window) }]);
      }
    }

    const touched: string[] = [];
    if (replaced.length > 0) {
      await t.q("UPDATE admissions SET status = 'released', closed_ms = $1, generation = generation + 1 WHERE id = ANY($2::text[]) AND status = 'held'", [now, replaced.map((r) => r.id)]);
      for (const r of replaced) {
        t.change('admission', r.id);
        touched.push(...r.hosts.map((h) => h.host_id));
        t.event('admission.released', r.owner, r.id, {
          serviceId: r.row.service_id,
          window: windowOf(r.row.start_ms, r.row.end_ms),
          hosts: r.hosts.map((h) => h.host_id),
          reason: 'replaced',
          replacedBy: r.by,
        });
      }
    }
    const admissions: AdmissionRecord[] = [];
    if (bookings.length > 0) {
      try {
        await t.q(
          `INSERT INTO admissions (id, owner, service_id, decision, status, start_ms, end_ms, hold_expires_ms, expiry_seconds, created_ms, replaces, generation, response_json, charge_plan_json)
           SELECT x.id, x.owner, x.service, x.decision, 'held', x.s, x.e, x.hold, x.expiry, $1, x.replaces, 1, x.response, x.plan
           FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::float8[], $10::text[], $11::text[], $12::text[])
             AS x(id, owner, service, decision, s, e, hold, expiry, replaces, response, plan)`,
          [
            now,
            bookings.map((b) => b.input.id),
            bookings.map((b) => b.input.owner),
            bookings.map((b) => b.input.serviceId),
            bookings.map((b) => b.input.decision),
            bookings.map((b) => b.input.window.start),
            bookings.map((b) => b.input.window.end),
            bookings.map((b) => b.input.holdExpiresAt),
            bookings.map((b) => b.input.expirySeconds ?? null),
            bookings.map((b) => replacesOf.get(b.input.id) ?? null),
            bookings.map((b) => b.responseJson),
            bookings.map((b) => (b.input.chargePlan ? JSON.stringify(b.input.chargePlan) : null)),
          ],
        );
      } catch (e) {
        // Booked concurrently by another replica under the same id.
        if (pgCode(e) === '23505' && (e as PgError).constraint === 'admissions_pkey') {
          throw new AdmissionError('AC_ERR_CONFLICT', 'an admission with this id exists already', [{ field: 'request.bookings.id', reason: 'duplicate admission id' }]);
        }
        throw e;
      }
      const allocs = bookings.flatMap((b) => b.hosts.map((h) => [b.input.id, h] as const));
      if (allocs.length > 0) {
        await t.q(
          'INSERT INTO allocations (admission_id, host_id, cpus, memory_mb) SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::float8[])',
          [allocs.map((a) => a[0]), allocs.map((a) => a[1].hostId), allocs.map((a) => a[1].cpus), allocs.map((a) => a[1].memoryMb)],
        );
      }
    }
    for (const { input: b, hosts, responseJson } of bookings) {
      const replaces = replacesOf.get(b.id);
      t.change('admission', b.id);
      touched.push(...hosts.map((h) => h.hostId));
      t.event('admission.held', b.owner, b.id, {
        serviceId: b.serviceId,
        decision: b.decision,
        window: b.window,
        hosts: hosts.map((h) => h.hostId),
        holdExpiresAt: b.holdExpiresAt,
        ...(replaces ? { replaces } : {}),
      });
      admissions.push({
        id: b.id,
        owner: b.owner,
        serviceId: b.serviceId,
        decision: b.decision,
        status: 'held',
        window: { start: b.window.start, end: b.window.end },
        holdExpiresAt: b.holdExpiresAt,
        ...(b.expirySeconds !== undefined ? { expirySeconds: b.expirySeconds } : {}),
        createdAt: now,
        ...(replaces ? { replaces } : {}),
        hosts,
        response: JSON.parse(responseJson) as unknown,
        generation: 1,
      });
    }
    t.bumpHosts(touched);
    const commit = (): void => {
      for (const [h, a] of own) {
        const list = state.adjustments.get(h);
        if (list) list.push(a);
        else state.adjustments.set(h, [a]);
      }
      for (const r of replaced) state.released.add(r.id);
      for (const [h, v] of mine) {
        const list = state.holders.get(h);
        if (list) list.push(v);
        else state.holders.set(h, [v]);
      }
    };
    return { result: { kind: 'booked', admissions, replaced: replaced.map((r) => r.id) }, commit };
  }

  async idempotentAnswer(owner: string, key: string): Promise<{ readonly requestHash: string; readonly answer: unknown } | undefined> {
    const row = await this.read((c) => one<{ request_hash: string; answer_json: string }>(c, 'SELECT request_hash, answer_json FROM idempotency_keys WHERE owner = $1 AND key = $2', [owner, key]));
    return row && { requestHash: row.request_hash, answer: JSON.parse(row.answer_json) as unknown };
  }

  async get(id: string): Promise<AdmissionRecord | undefined> {
    const rows = await this.read((c) =>
      q<AdmissionRow & { hosts: AllocationRow[] | null }>(
        c,
        `SELECT a.*, (SELECT json_agg(json_build_object('admission_id', al.admission_id, 'host_id', al.host_id, 'cpus', al.cpus, 'memory_mb', al.memory_mb) ORDER BY al.host_id)
                      FROM allocations al WHERE al.admission_id = a.id) AS hosts
         FROM admissions a WHERE a.id = $1`,
        [id],
      ),
    );
    const row = rows[0];
    return row && admissionRecord(row, row.hosts ?? [], this.clock());
  }

  async list(filter: AdmissionFilter, page: { readonly limit?: number; readonly cursor?: string } = {}): Promise<Page<AdmissionRecord>> {
    validate.statuses(filter.statuses);
    const limit = page.limit ?? DEFAULT_PAGE;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw invalid('limit', `expected a whole number from 1 to ${MAX_PAGE}`);
    const now = this.clock();
    const p = new Params();
    const parts: string[] = [];
    if (filter.owner !== undefined) parts.push(`a.owner = ${p.add(filter.owner)}`);
    if (filter.serviceId !== undefined) parts.push(`a.service_id = ${p.add(filter.serviceId)}`);
    if (filter.statuses && filter.statuses.length === 1 && filter.statuses[0] === 'held') {
      // Live held offers only, in the form the partial index admissions_held_by_service matches.
      parts.push("a.status = 'held'", `a.hold_expires_ms > ${p.add(now)}`);
    } else if (filter.statuses) {
      const n = p.add(now);
      parts.push(`(CASE WHEN a.status = 'held' AND a.hold_expires_ms <= ${n} THEN 'expired' ELSE a.status END) = ANY(${p.add([...filter.statuses])}::text[])`);
    }
    if (filter.from !== undefined) parts.push(`(a.end_ms IS NULL OR a.end_ms > ${p.add(validate.instant(filter.from, 'filter.from'))})`);
    if (filter.to !== undefined) parts.push(`a.start_ms < ${p.add(validate.instant(filter.to, 'filter.to'))}`);
    if (page.cursor !== undefined) {
      const [created, id] = decodeCursor(page.cursor);
      parts.push(`(a.created_ms, a.id) > (${p.add(created)}::bigint, ${p.add(id)}::text)`);
    }
    const where = parts.length > 0 ? `WHERE ${parts.join(' AND ')}` : '';
    const lim = p.add(limit + 1);
    const rows = await this.read((c) =>
      q<AdmissionRow & { hosts: AllocationRow[] | null }>(
        c,
        `SELECT a.*, (SELECT json_agg(json_build_object('admission_id', al.admission_id, 'host_id', al.host_id, 'cpus', al.cpus, 'memory_mb', al.memory_mb) ORDER BY al.host_id)
                      FROM allocations al WHERE al.admission_id = a.id) AS hosts
         FROM admissions a ${where} ORDER BY a.created_ms, a.id LIMIT ${lim}`,
        p.values,
      ),
    );
    const more = rows.length > limit;
    if (more) rows.pop();
    const items = rows.map((r) => admissionRecord(r, r.hosts ?? [], now));
    const last = rows[rows.length - 1];
    return { items, nextCursor: more && last ? encodeCursor(last.created_ms, last.id) : null };
  }

  /**
   * Inside a write: the admission's hosts locked (sorted), then its row (FOR UPDATE), its generation checked, its
   * status (as of now) one of `allowed`. `alsoLock`: further hosts to lock with them (a reschedule's new hosts).
   */
  private async changeable(
    t: Tx,
    id: string,
    allowed: readonly AdmissionStatus[],
    action: string,
    expectedGeneration?: number,
    alsoLock: readonly string[] = [],
  ): Promise<{ row: AdmissionRow; record: AdmissionRecord; hosts: AllocationRow[] }> {
    for (;;) {
      const before = await this.allocations(t.c, id);
      await this.lockHosts(t, [...before.map((h) => h.host_id), ...alsoLock]);
      const row = await this.admissionRow(t.c, id, true);
      if (!row) throw notFound('admission', id);
      const hosts = await this.allocations(t.c, id);
      // Rescheduled onto other hosts between the two reads: lock those too (rare).
      if (hosts.some((h) => !t.locked.has(h.host_id))) continue;
      if (expectedGeneration !== undefined && expectedGeneration !== row.generation) throw generationConflict(`admission '${id}'`, expectedGeneration, row.generation);
      const record = admissionRecord(row, hosts, t.now);
      if (!allowed.includes(record.status)) throw stateConflict(`admission '${id}' cannot be ${action}`, `it is ${record.status}`);
      return { row, record, hosts };
    }
  }

  async confirm(id: string, actor: string, expectedGeneration?: number, options: { readonly deployment?: DeploymentInput } = {}): Promise<AdmissionRecord> {
    validate.id(actor, 'actor');
    validate.generation(expectedGeneration);
    const deployment = options.deployment === undefined ? undefined : validateDeployment.input(options.deployment);
    return this.tx(async (t) => {
      const now = t.now;
      const { row, record, hosts } = await this.changeable(t, id, ['held'], 'confirmed', expectedGeneration);
      const status: AdmissionStatus = now >= row.start_ms ? 'active' : 'confirmed';
      const after = (await t.one<AdmissionRow>("UPDATE admissions SET status = $1, confirmed_ms = $2, generation = generation + 1 WHERE id = $3 AND status = 'held' RETURNING *", [status, now, id]))!;
      t.change('admission', id);
      t.bumpHosts(hosts.map((h) => h.host_id));
      const rec = admissionRecord(after, hosts, now);
      const data = { serviceId: row.service_id, window: rec.window, hosts: hosts.map((h) => h.host_id) };
      t.event('admission.confirmed', row.owner, id, data);
      if (status === 'active') t.event('reservation.started', row.owner, id, data);
      await this.settleCharges(t, id, 'confirm');
      if (deployment) {
        await t.q(
          `INSERT INTO deployments (admission_id, owner, target, status, not_before_ms, generation, attempts, error, lease_holder, lease_until_ms, vms_json, created_ms, updated_ms)
           VALUES ($1, $2, $3, 'scheduled', $4, 1, 0, NULL, NULL, NULL, $5, $6, $6)`,
          [id, row.owner, deployment.target, row.start_ms, JSON.stringify(deployment.vms), now],
        );
      }
      t.audit(actor, 'admission.confirmed', id, admissionSummary(record), admissionSummary(rec));
      return rec;
    });
  }

  async reschedule(
    id: string,
    change: { readonly window: TimeWindow; readonly hosts?: readonly HostAmount[]; readonly holdExpiresAt?: EpochMs; readonly chargePlan?: ChargePlan },
    actor: string,
    expectedGeneration?: number,
  ): Promise<AdmissionRecord> {
    validate.id(actor, 'actor');
    validate.generation(expectedGeneration);
    const window = validate.window(change.window, 'change.window');
    const newHosts = change.hosts === undefined ? undefined : sumByHost(validate.hostAmounts(change.hosts, 'change.hosts'));
    const holdExpiresAt = change.holdExpiresAt === undefined ? undefined : validate.instant(change.holdExpiresAt, 'change.holdExpiresAt');
    return this.tx(async (t) => {
      const now = t.now;
      const { row, record, hosts: oldHosts } = await this.changeable(t, id, HOLDING_STATUSES, 'rescheduled', expectedGeneration, newHosts?.map((h) => h.hostId) ?? []);
      if (holdExpiresAt !== undefined && row.status === 'held' && holdExpiresAt <= now) throw invalid('change.holdExpiresAt', "must be after the ledger's clock");
      await this.pullIn(t);
      const hosts = newHosts ?? oldHosts.map((h) => ({ hostId: h.host_id, cpus: h.cpus, memoryMb: h.memory_mb }));
      // Its own old booking does not count against the new one.
      const adjustments = new Map<string, Adjustment[]>();
      for (const h of oldHosts) adjustments.set(h.host_id, [{ start: row.start_ms, end: row.end_ms ?? Infinity, cpus: h.cpus, memoryMb: h.memory_mb }]);
      const ignore = new Set([id]);
      for (const h of hosts) this.checkFits(t.locked.get(h.hostId), id, h, window, adjustments.get(h.hostId) ?? [], ignore);
      const updated = (await t.one<AdmissionRow>(
        `UPDATE admissions SET start_ms = $1, end_ms = $2, hold_expires_ms = CASE WHEN status = 'held' AND $3::bigint IS NOT NULL THEN $3::bigint ELSE hold_expires_ms END,
           ending_sent = false, generation = generation + 1 WHERE id = $4 RETURNING *`,
        [window.start, window.end, holdExpiresAt ?? null, id],
      ))!;
      if (change.chargePlan) await t.q('UPDATE admissions SET charge_plan_json = $1 WHERE id = $2', [JSON.stringify(change.chargePlan), id]);
      let allocs = oldHosts;
      if (newHosts) {
        await t.q('DELETE FROM allocations WHERE admission_id = $1', [id]);
        if (newHosts.length > 0) {
          await t.q('INSERT INTO allocations (admission_id, host_id, cpus, memory_mb) SELECT $1, * FROM unnest($2::text[], $3::float8[], $4::float8[])', [
            id,
            newHosts.map((h) => h.hostId),
            newHosts.map((h) => h.cpus),
            newHosts.map((h) => h.memoryMb),
          ]);
        }
        allocs = newHosts.map((h) => ({ admission_id: id, host_id: h.hostId, cpus: h.cpus, memory_mb: h.memoryMb }));
      }
      t.change('admission', id);
      t.bumpHosts([...oldHosts.map((h) => h.host_id), ...hosts.map((h) => h.hostId)]);
      const after = admissionRecord(updated, allocs, now);
      t.event('admission.rescheduled', row.owner, id, {
        serviceId: row.service_id,
        window: after.window,
        hosts: after.hosts.map((h) => h.hostId),
        before: { window: record.window, hosts: record.hosts.map((h) => h.hostId) },
      });
      await this.settleCharges(t, id, 'reschedule');
      t.audit(actor, 'admission.rescheduled', id, admissionSummary(record), admissionSummary(after));
      return after;
    });
  }

  async release(id: string, actor: string): Promise<{ readonly record: AdmissionRecord; readonly released: boolean }> {
    validate.id(actor, 'actor');
    return this.tx(async (t) => {
      const now = t.now;
      let found: { row: AdmissionRow; record: AdmissionRecord; hosts: AllocationRow[] };
      try {
        found = await this.changeable(t, id, HOLDING_STATUSES, 'released');
      } catch (e) {
        if (e instanceof AdmissionError && e.code === 'AC_ERR_CONFLICT') {
          // Closed already (or a lapsed hold: it reads expired): nothing to do.
          const row = (await this.admissionRow(t.c, id))!;
          return { record: admissionRecord(row, await this.allocations(t.c, id), now), released: false };
        }
        throw e;
      }
      const { row, record, hosts } = found;
      const updated = (await t.one<AdmissionRow>(
        "UPDATE admissions SET status = 'released', closed_ms = $1, generation = generation + 1 WHERE id = $2 AND status IN ('held', 'confirmed', 'active') RETURNING *",
        [now, id],
      ))!;
      t.change('admission', id);
      t.bumpHosts(hosts.map((h) => h.host_id));
      const after = admissionRecord(updated, hosts, now);
      t.event('admission.released', row.owner, id, { serviceId: row.service_id, window: record.window, hosts: hosts.map((h) => h.host_id), reason: 'released', actor });
      await this.settleCharges(t, id, 'release');
      t.audit(actor, 'admission.released', id, admissionSummary(record), admissionSummary(after));
      return { record: after, released: true };
    });
  }

  // -------------------------------------------------------------------------------------------
  // Capacity windows.

  async addWindow(input: CapacityWindowInput): Promise<{ readonly window: CapacityWindowRecord; readonly conflicts: readonly WindowConflict[] }> {
    const w = validate.capacityWindow(input);
    const hostIds = [...w.hosts].sort(byId);
    return this.tx(async (t) => {
      const now = t.now;
      if ((await t.one('SELECT 1 AS x FROM capacity_windows WHERE id = $1', [w.id])) !== undefined) {
        throw new AdmissionError('AC_ERR_CONFLICT', `capacity window '${w.id}' exists already`, [{ field: 'id', reason: 'duplicate capacity window id' }]);
      }
      const locked = await this.lockHosts(t, hostIds);
      const hostRows = hostIds.map((h) => {
        const row = locked.get(h);
        if (!row || row.removed) throw invalid('capacity window.hosts', `host '${h}' is not in the inventory`);
        return row;
      });
      await this.pullIn(t);
      const end = endOf(w.window);
      try {
        await t.q(
          `INSERT INTO capacity_windows (id, start_ms, end_ms, cpus_delta, memory_mb_delta, reason, created_ms, created_by, started, ended)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
          [w.id, w.window.start, w.window.end, w.cpusDelta, w.memoryMbDelta, w.reason, now, w.actor, w.window.start <= now, end <= now],
        );
      } catch (e) {
        if (pgCode(e) === '23505') throw new AdmissionError('AC_ERR_CONFLICT', `capacity window '${w.id}' exists already`, [{ field: 'id', reason: 'duplicate capacity window id' }]);
        throw e;
      }
      await t.q('INSERT INTO capacity_window_hosts (window_id, host_id) SELECT $1, * FROM unnest($2::text[])', [w.id, hostIds]);
      t.change('window', w.id);
      t.bumpHosts(hostIds);

      // Who no longer fits: every holder overlapping the window on its hosts, at the worst instant of the overlap.
      const adjustment: Adjustment = { start: w.window.start, end, cpus: w.cpusDelta, memoryMb: w.memoryMbDelta };
      const found: { holder: string; hostId: string; missingCpus: number; missingMemoryMb: number }[] = [];
      for (const host of hostRows) {
        const inv = inventoryOf(host);
        for (const holder of this.index.holdersOn(host.id, w.window.start, end)) {
          const from = Math.max(holder.start, w.window.start);
          const to = Math.min(holder.end, end);
          const free = freeOver(inv, this.index.minNet(host.id, from, to, [adjustment]));
          const missingCpus = holder.cpus > 0 && free.cpus < -EPSILON ? -free.cpus : 0;
          const missingMemoryMb = holder.memoryMb > 0 && inv.memoryMb !== undefined && free.memoryMb < -EPSILON ? -free.memoryMb : 0;
          if (missingCpus === 0 && missingMemoryMb === 0) continue;
          found.push({ holder: holder.id, hostId: host.id, missingCpus, missingMemoryMb });
        }
      }
      const rows = found.length === 0 ? [] : await t.q<AdmissionRow>('SELECT * FROM admissions WHERE id = ANY($1::text[])', [[...new Set(found.map((f) => f.holder))]]);
      const byAdm = new Map(rows.map((r) => [r.id, r]));
      const conflicts: WindowConflict[] = found.map((f) => {
        const a = byAdm.get(f.holder)!;
        return { admissionId: a.id, owner: a.owner, serviceId: a.service_id, window: windowOf(a.start_ms, a.end_ms), hostId: f.hostId, missingCpus: f.missingCpus, missingMemoryMb: f.missingMemoryMb };
      });
      conflicts.sort((a, b) => byId(a.admissionId, b.admissionId) || byId(a.hostId, b.hostId));
      const record: CapacityWindowRecord = {
        id: w.id,
        hosts: hostIds,
        window: { start: w.window.start, end: w.window.end },
        cpusDelta: w.cpusDelta,
        memoryMbDelta: w.memoryMbDelta,
        reason: w.reason,
        createdAt: now,
        createdBy: w.actor,
      };
      t.event('capacity.changed', null, w.id, { reason: w.reason, change: 'window.added', windowId: w.id, hosts: hostIds, window: record.window, cpusDelta: w.cpusDelta, memoryMbDelta: w.memoryMbDelta, conflicts: conflicts.length });
      const byAdmission = new Map<string, WindowConflict[]>();
      for (const c of conflicts) byAdmission.set(c.admissionId, [...(byAdmission.get(c.admissionId) ?? []), c]);
      for (const [admissionId, list] of byAdmission) {
        t.event('maintenance.conflict', list[0]!.owner, admissionId, {
          windowId: w.id,
          reason: w.reason,
          window: record.window,
          serviceId: list[0]!.serviceId,
          hosts: list.map((c) => ({ hostId: c.hostId, missingCpus: c.missingCpus, missingMemoryMb: c.missingMemoryMb })),
        });
      }
      t.audit(w.actor, 'window.created', w.id, null, record);
      return { window: record, conflicts };
    });
  }

  async removeWindow(id: string, actor: string): Promise<boolean> {
    validate.id(actor, 'actor');
    return this.tx(async (t) => {
      const hostsBefore = (await t.q<{ host_id: string }>('SELECT host_id FROM capacity_window_hosts WHERE window_id = $1 ORDER BY host_id', [id])).map((r) => r.host_id);
      await this.lockHosts(t, hostsBefore);
      const row = await t.one<WindowRow>('SELECT * FROM capacity_windows WHERE id = $1 FOR UPDATE', [id]);
      if (!row) return false;
      const hostIds = (await t.q<{ host_id: string }>('SELECT host_id FROM capacity_window_hosts WHERE window_id = $1 ORDER BY host_id', [id])).map((r) => r.host_id);
      await this.lockHosts(t, hostIds);
      const before = windowRecord(row, hostIds);
      await t.q('DELETE FROM capacity_windows WHERE id = $1', [id]);
      t.change('window', id);
      t.bumpHosts(hostIds);
      t.event('capacity.changed', null, id, { reason: row.reason, change: 'window.removed', windowId: id, hosts: hostIds, window: before.window, cpusDelta: row.cpus_delta, memoryMbDelta: row.memory_mb_delta });
      t.audit(actor, 'window.removed', id, before, null);
      return true;
    });
  }

  async listWindows(filter: { readonly from?: EpochMs; readonly to?: EpochMs; readonly hostId?: string } = {}): Promise<readonly CapacityWindowRecord[]> {
    const p = new Params();
    const parts: string[] = [];
    if (filter.from !== undefined) parts.push(`(w.end_ms IS NULL OR w.end_ms > ${p.add(validate.instant(filter.from, 'filter.from'))})`);
    if (filter.to !== undefined) parts.push(`w.start_ms < ${p.add(validate.instant(filter.to, 'filter.to'))}`);
    if (filter.hostId !== undefined) parts.push(`EXISTS (SELECT 1 FROM capacity_window_hosts x WHERE x.window_id = w.id AND x.host_id = ${p.add(filter.hostId)})`);
    const where = parts.length > 0 ? `WHERE ${parts.join(' AND ')}` : '';
    const rows = await this.read((c) =>
      q<WindowRow & { host_ids: string[] | null }>(
        c,
        `SELECT w.*, (SELECT array_agg(h.host_id ORDER BY h.host_id) FROM capacity_window_hosts h WHERE h.window_id = w.id) AS host_ids
         FROM capacity_windows w ${where} ORDER BY w.start_ms, w.id`,
        p.values,
      ),
    );
    return rows.map((r) => windowRecord(r, r.host_ids ?? []));
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle.

  private async nextDue(c: Queryable, now: number): Promise<number | null> {
    const r = await one<{ x: number | null }>(
      c,
      `SELECT MIN(x) AS x FROM (
         SELECT MIN(hold_expires_ms) AS x FROM admissions WHERE status = 'held'
         UNION ALL SELECT MIN(start_ms) FROM admissions WHERE status = 'confirmed'
         UNION ALL SELECT MIN(CASE WHEN NOT ending_sent AND end_ms > $1 THEN end_ms - $2 ELSE end_ms END)
                   FROM admissions WHERE status = 'active' AND end_ms IS NOT NULL
         UNION ALL SELECT MIN(charge_next_ms) FROM admissions WHERE charge_next_ms IS NOT NULL
         UNION ALL SELECT MIN(start_ms) FROM capacity_windows WHERE NOT started
         UNION ALL SELECT MIN(end_ms) FROM capacity_windows WHERE NOT ended AND end_ms IS NOT NULL) AS due`,
      [now, this.endingLeadMs],
    );
    return r?.x ?? null;
  }

  /** Whether advance(now) has anything to purge (read outside any transaction). */
  private async purgeDue(c: Queryable, now: number): Promise<boolean> {
    const cutoff = now - this.retentionMs;
    const r = await one<{ due: boolean }>(
      c,
      `SELECT EXISTS (SELECT 1 FROM admissions WHERE closed_ms IS NOT NULL AND closed_ms < $1)
           OR EXISTS (SELECT 1 FROM idempotency_keys WHERE created_ms < $1)
           OR EXISTS (SELECT 1 FROM events WHERE at_ms < $1 AND seq <= (SELECT COALESCE(MIN(COALESCE(pending_seq - 1, cursor)), 9007199254740991) FROM subscriptions))
           OR EXISTS (SELECT 1 FROM changes WHERE at_ms < $2)
           OR EXISTS (SELECT 1 FROM decisions WHERE at_ms < $3) AS due`,
      [cutoff, now - CHANGES_RETENTION_MS, now - this.decisionRetentionMs],
    );
    return r?.due ?? false;
  }

  async advance(now: EpochMs): Promise<AdvanceResult> {
    validate.instant(now, 'now');
    // Nothing due (the common case, called by every replica's scheduler): no transaction, no lock.
    const quick = await this.read(async (c) => {
      const due = await this.nextDue(c, now);
      if (due !== null && due <= now) return undefined;
      return (await this.purgeDue(c, now)) || (await this.bandChanged(c, now)) ? undefined : due;
    });
    if (quick !== undefined) return { events: [], nextDueAt: quick };
    return this.tx(async (t) => {
      const events: LedgerEvent[] = [];
      // Candidates, their hosts locked (sorted), then their rows (sorted): every replica takes the same locks in the
      // same order, and the conditional UPDATEs below record each transition once.
      const candidates = await t.q<{ id: string; host_ids: string[] | null }>(
        `SELECT a.id, (SELECT array_agg(al.host_id) FROM allocations al WHERE al.admission_id = a.id) AS host_ids
         FROM admissions a
         WHERE (a.status = 'held' AND a.hold_expires_ms <= $1)
            OR (a.status = 'confirmed' AND a.start_ms <= $1)
            OR (a.status = 'active' AND a.end_ms IS NOT NULL AND (a.end_ms <= $1 OR (NOT a.ending_sent AND a.end_ms - $2 <= $1)))`,
        [now, this.endingLeadMs],
      );
      let ids: string[] = [];
      const hostsOf = new Map<string, string[]>();
      if (candidates.length > 0) {
        await this.lockHosts(t, candidates.flatMap((c) => c.host_ids ?? []));
        const locked = await t.q<{ id: string; host_ids: string[] | null }>(
          `SELECT a.id, (SELECT array_agg(al.host_id) FROM allocations al WHERE al.admission_id = a.id) AS host_ids
           FROM admissions a WHERE a.id = ANY($1::text[]) ORDER BY a.id FOR UPDATE`,
          [candidates.map((c) => c.id)],
        );
        // One rescheduled onto other hosts meanwhile waits for the next advance().
        const kept = locked.filter((r) => (r.host_ids ?? []).every((h) => t.locked.has(h)));
        ids = kept.map((r) => r.id);
        for (const r of kept) hostsOf.set(r.id, [...(r.host_ids ?? [])].sort(byId));
      }
      const touched: string[] = [];
      const byDue = <T extends { id: string }>(rows: T[], due: (r: T) => number): T[] => rows.sort((a, b) => due(a) - due(b) || byId(a.id, b.id));
      const transition = (rows: AdmissionRow[], type: EventType, closes: boolean, due: (r: AdmissionRow) => number): void => {
        for (const r of byDue(rows, due)) {
          const hosts = hostsOf.get(r.id) ?? [];
          if (closes) {
            t.change('admission', r.id);
            touched.push(...hosts);
          }
          events.push(t.event(type, r.owner, r.id, { serviceId: r.service_id, decision: r.decision, window: windowOf(r.start_ms, r.end_ms), hosts, dueAt: due(r) }, now));
        }
      };
      if (ids.length > 0) {
        transition(
          await t.q<AdmissionRow>(
            "UPDATE admissions SET status = 'expired', closed_ms = hold_expires_ms, generation = generation + 1 WHERE id = ANY($2::text[]) AND status = 'held' AND hold_expires_ms <= $1 RETURNING *",
            [now, ids],
          ),
          'admission.expired',
          true,
          (r) => r.hold_expires_ms,
        );
        transition(
          await t.q<AdmissionRow>("UPDATE admissions SET status = 'active', generation = generation + 1 WHERE id = ANY($2::text[]) AND status = 'confirmed' AND start_ms <= $1 RETURNING *", [now, ids]),
          'reservation.started',
          false,
          (r) => r.start_ms,
        );
        transition(
          await t.q<AdmissionRow>(
            "UPDATE admissions SET ending_sent = true WHERE id = ANY($3::text[]) AND status = 'active' AND NOT ending_sent AND end_ms IS NOT NULL AND end_ms - $2 <= $1 AND end_ms > $1 RETURNING *",
            [now, this.endingLeadMs, ids],
          ),
          'reservation.ending',
          false,
          (r) => r.end_ms! - this.endingLeadMs,
        );
        transition(
          await t.q<AdmissionRow>(
            "UPDATE admissions SET status = 'ended', closed_ms = end_ms, generation = generation + 1 WHERE id = ANY($2::text[]) AND status = 'active' AND end_ms IS NOT NULL AND end_ms <= $1 RETURNING *",
            [now, ids],
          ),
          'reservation.ended',
          true,
          (r) => r.end_ms!,
        );
      }
      const edge = async (rows: (WindowRow & { host_ids: string[] | null })[], which: 'start' | 'end'): Promise<void> => {
        for (const w of byDue(rows, (r) => (which === 'start' ? r.start_ms : r.end_ms!))) {
          events.push(
            t.event(
              'capacity.changed',
              null,
              w.id,
              { reason: w.reason, edge: which, windowId: w.id, hosts: w.host_ids ?? [], window: windowOf(w.start_ms, w.end_ms), cpusDelta: w.cpus_delta, memoryMbDelta: w.memory_mb_delta },
              now,
            ),
          );
        }
      };
      const withHosts = '*, (SELECT array_agg(h.host_id ORDER BY h.host_id) FROM capacity_window_hosts h WHERE h.window_id = capacity_windows.id) AS host_ids';
      await edge(await t.q(`UPDATE capacity_windows SET started = true WHERE NOT started AND start_ms <= $1 RETURNING ${withHosts}`, [now]), 'start');
      await edge(await t.q(`UPDATE capacity_windows SET ended = true WHERE NOT ended AND end_ms IS NOT NULL AND end_ms <= $1 RETURNING ${withHosts}`, [now]), 'end');
      // Open windows are charged per started hour: each admission whose next hour has begun (one replica each).
      for (const r of await t.q<{ id: string }>('SELECT id FROM admissions WHERE charge_next_ms IS NOT NULL AND charge_next_ms <= $1 ORDER BY charge_next_ms, id FOR UPDATE SKIP LOCKED', [now])) {
        const e = await this.settleCharges(t, r.id, 'advance');
        if (e) events.push(e);
      }
      t.bumpHosts(touched);
      const crossing = await this.recordBand(t, now);
      if (crossing) events.push(crossing);
      await this.purge(t, now);
      return { events, nextDueAt: await this.nextDue(t.c, now) };
    });
  }

  /** Inside advance's transaction: history older than the retention (by one replica at a time; the others skip it). */
  private async purge(t: Tx, now: number): Promise<void> {
    const got = await t.one<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [PURGE_LOCK]);
    if (!got?.ok) return;
    const cutoff = now - this.retentionMs;
    await t.q("DELETE FROM admissions WHERE closed_ms IS NOT NULL AND closed_ms < $1 AND id NOT IN (SELECT admission_id FROM deployments WHERE status <> 'terminated')", [cutoff]);
    await t.q('DELETE FROM idempotency_keys WHERE created_ms < $1', [cutoff]);
    // Never an event a subscription has not passed yet (its cursor, or before the event it is delivering).
    await t.q('DELETE FROM events WHERE at_ms < $1 AND seq <= (SELECT COALESCE(MIN(COALESCE(pending_seq - 1, cursor)), 9007199254740991) FROM subscriptions)', [cutoff]);
    await t.q('DELETE FROM dead_letters WHERE at_ms < $1', [cutoff]);
    await t.q('DELETE FROM decisions WHERE at_ms < $1', [now - this.decisionRetentionMs]);
    for (const r of await t.q<{ id: string }>('DELETE FROM capacity_windows WHERE ended AND end_ms < $1 RETURNING id', [cutoff])) t.change('window', r.id);
    const purged = await t.one<{ s: number | null }>('SELECT MAX(seq) AS s FROM changes WHERE at_ms < $1', [now - CHANGES_RETENTION_MS]);
    if (purged?.s !== null && purged?.s !== undefined) {
      await t.q('DELETE FROM changes WHERE seq <= $1', [purged.s]);
      await t.q('UPDATE ledger_tail SET changes_purged_through = GREATEST(changes_purged_through, $1) WHERE id = 1', [purged.s]);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Events.

  async events(
    after: number,
    options: { readonly limit?: number; readonly visibleTo?: { readonly owner: string; readonly seesAll: boolean }; readonly types?: readonly string[] } = {},
  ): Promise<readonly LedgerEvent[]> {
    if (!Number.isSafeInteger(after) || after < 0) throw invalid('after', 'expected a whole number ≥ 0');
    const limit = options.limit ?? DEFAULT_PAGE;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw invalid('limit', `expected a whole number from 1 to ${MAX_PAGE}`);
    const p = new Params();
    const a = p.add(after);
    const own = options.visibleTo && !options.visibleTo.seesAll ? ` AND owner = ${p.add(options.visibleTo.owner)}` : '';
    const t = typeFilter(options.types, p);
    const sql = `SELECT * FROM events WHERE seq > ${a}${own}${t} ORDER BY seq LIMIT ${p.add(limit)}`;
    return (await this.read((c) => q<EventRow>(c, sql, p.values))).map(eventOf);
  }

  async emit(event: Omit<LedgerEvent, 'seq' | 'id' | 'at'> & { readonly at?: EpochMs }): Promise<LedgerEvent> {
    const data = event.data ?? {};
    jsonOf(data, 'event.data');
    validate.id(event.subject, 'event.subject');
    if (!/^[a-z]+(\.[a-z]+)+$/.test(event.type)) throw invalid('event.type', 'expected a dotted event type');
    const at = event.at === undefined ? undefined : validate.instant(event.at, 'event.at');
    return this.tx(async (t) => t.event(event.type, event.owner, event.subject, { ...data }, at ?? t.now));
  }

  async lastEventSeq(): Promise<number> {
    return (await this.read((c) => one<{ s: number }>(c, 'SELECT event_seq AS s FROM ledger_tail WHERE id = 1')))!.s;
  }

  // -------------------------------------------------------------------------------------------
  // Subscriptions and deliveries.

  private subscriptionRecord(r: SubscriptionRow, dead: readonly DeadLetter[]): SubscriptionRecord {
    return {
      id: r.id,
      owner: r.owner,
      seesAll: r.sees_all,
      url: r.url,
      events: JSON.parse(r.events_json) as string[],
      createdAt: r.created_ms,
      cursor: r.cursor,
      ...(r.pending_seq !== null
        ? { pending: { seq: r.pending_seq, attempts: r.attempts, nextAttemptAt: r.next_attempt_ms ?? 0, ...(r.last_error !== null ? { lastError: r.last_error } : {}) } }
        : {}),
      delivered: r.delivered,
      deadLetters: dead,
    };
  }

  /** Subscriptions with their dead letters, in one statement. */
  private async subscriptionsWhere(c: Queryable, where: string, params: readonly unknown[]): Promise<(SubscriptionRow & { dead: DeadLetter[] | null })[]> {
    return q<SubscriptionRow & { dead: DeadLetter[] | null }>(
      c,
      `SELECT s.*, (SELECT json_agg(json_build_object('eventId', d.event_id, 'seq', d.seq, 'attempts', d.attempts, 'lastError', d.last_error, 'at', d.at_ms) ORDER BY d.seq)
                    FROM dead_letters d WHERE d.subscription_id = s.id) AS dead
       FROM subscriptions s ${where} ORDER BY s.id`,
      params,
    );
  }

  async subscribe(input: SubscriptionInput): Promise<SubscriptionRecord> {
    const s = validate.subscription(input);
    return this.tx(async (t) => {
      const now = t.now;
      const dup = (): AdmissionError => new AdmissionError('AC_ERR_CONFLICT', `subscription '${s.id}' exists already`, [{ field: 'id', reason: 'duplicate subscription id' }]);
      if ((await t.one('SELECT 1 AS x FROM subscriptions WHERE id = $1', [s.id])) !== undefined) throw dup();
      // Deliveries start after the last event committed before the subscription.
      let row: SubscriptionRow;
      try {
        row = (await t.one<SubscriptionRow>(
          `INSERT INTO subscriptions (id, owner, sees_all, url, events_json, secret, created_ms, cursor)
           VALUES ($1, $2, $3, $4, $5, $6, $7, (SELECT event_seq FROM ledger_tail WHERE id = 1)) RETURNING *`,
          [s.id, s.owner, s.seesAll, s.url, JSON.stringify(s.events), s.secret, now],
        ))!;
      } catch (e) {
        if (pgCode(e) === '23505') throw dup();
        throw e;
      }
      t.audit(s.actor, 'subscription.created', s.id, null, { id: s.id, owner: s.owner, seesAll: s.seesAll, url: s.url, events: s.events });
      return this.subscriptionRecord(row, []);
    });
  }

  async subscription(id: string): Promise<SubscriptionRecord | undefined> {
    const [r] = await this.read((c) => this.subscriptionsWhere(c, 'WHERE s.id = $1', [id]));
    return r && this.subscriptionRecord(r, r.dead ?? []);
  }

  async subscriptions(filter: { readonly owner?: string } = {}): Promise<readonly SubscriptionRecord[]> {
    const rows = await this.read((c) => (filter.owner === undefined ? this.subscriptionsWhere(c, '', []) : this.subscriptionsWhere(c, 'WHERE s.owner = $1', [filter.owner])));
    return rows.map((r) => this.subscriptionRecord(r, r.dead ?? []));
  }

  async unsubscribe(id: string, actor: string): Promise<boolean> {
    validate.id(actor, 'actor');
    return this.tx(async (t) => {
      const row = await t.one<SubscriptionRow>('DELETE FROM subscriptions WHERE id = $1 RETURNING *', [id]);
      if (!row) return false;
      t.audit(actor, 'subscription.deleted', id, { id, owner: row.owner, seesAll: row.sees_all, url: row.url, events: JSON.parse(row.events_json) as unknown }, null);
      return true;
    });
  }

  /** The next event after the subscription's cursor that it matches and its owner may see. */
  private async nextEventFor(c: Queryable, s: SubscriptionRow): Promise<EventRow | undefined> {
    const p = new Params();
    const cur = p.add(s.cursor);
    const own = s.sees_all ? '' : ` AND owner = ${p.add(s.owner)}`;
    const t = typeFilter(JSON.parse(s.events_json) as string[], p);
    return one<EventRow>(c, `SELECT * FROM events WHERE seq > ${cur}${own}${t} ORDER BY seq LIMIT 1`, p.values);
  }

  async claimDelivery(now: EpochMs, leaseMs: number): Promise<DeliveryClaim | undefined> {
    validate.instant(now, 'now');
    if (!Number.isSafeInteger(leaseMs) || leaseMs <= 0) throw invalid('leaseMs', 'expected a whole number of milliseconds > 0');
    const dueWhere = '((s.pending_seq IS NOT NULL AND COALESCE(s.next_attempt_ms, 0) <= $1) OR (s.pending_seq IS NULL AND s.cursor < $2))';
    // Looked at first without a transaction: most polls find nothing due.
    const last = await this.lastEventSeq();
    const any = await this.read((c) => one(c, `SELECT 1 AS x FROM subscriptions s WHERE ${dueWhere} LIMIT 1`, [now, last]));
    if (!any) return undefined;
    return this.tx(async (t) => {
      const tail = (await t.one<{ s: number }>('SELECT event_seq AS s FROM ledger_tail WHERE id = 1'))!.s;
      let after = '';
      for (;;) {
        // One subscription at a time, skipping those another replica holds: one deliverer per subscription.
        const sub = await t.one<SubscriptionRow>(`SELECT * FROM subscriptions s WHERE s.id > $3 AND ${dueWhere} ORDER BY s.id LIMIT 1 FOR UPDATE SKIP LOCKED`, [now, tail, after]);
        if (!sub) return undefined;
        after = sub.id;
        let event: EventRow | undefined;
        if (sub.pending_seq !== null) {
          event = await t.one<EventRow>('SELECT * FROM events WHERE seq = $1', [sub.pending_seq]);
          if (!event) continue;
        } else {
          event = await this.nextEventFor(t.c, sub);
          if (!event) {
            // Nothing this subscription matches up to the last event: its cursor moves past them (so they can be purged).
            await t.q('UPDATE subscriptions SET cursor = GREATEST(cursor, $1) WHERE id = $2 AND pending_seq IS NULL', [tail, sub.id]);
            continue;
          }
        }
        const token = randomUUID();
        const attempts = (sub.pending_seq === event.seq ? sub.attempts : 0) + 1;
        const row = (await t.one<SubscriptionRow>('UPDATE subscriptions SET pending_seq = $1, attempts = $2, next_attempt_ms = $3, lease_token = $4 WHERE id = $5 RETURNING *', [
          event.seq,
          attempts,
          now + leaseMs,
          token,
          sub.id,
        ]))!;
        const [withDead] = await this.subscriptionsWhere(t.c, 'WHERE s.id = $1', [sub.id]);
        return { subscription: { ...this.subscriptionRecord(row, withDead?.dead ?? []), secret: row.secret }, event: eventOf(event), attempt: attempts, token };
      }
    });
  }

  async settleDelivery(token: string, outcome: { readonly ok: true } | { readonly ok: false; readonly error: string; readonly retryAt: EpochMs | null }): Promise<void> {
    validate.id(token, 'token');
    const retryAt = !outcome.ok && outcome.retryAt !== null ? validate.instant(outcome.retryAt, 'outcome.retryAt') : null;
    await this.tx(async (t) => {
      const s = await t.one<SubscriptionRow>('SELECT * FROM subscriptions WHERE lease_token = $1 FOR UPDATE', [token]);
      if (!s || s.pending_seq === null || s.lease_token !== token) {
        throw new AdmissionError('AC_ERR_CONFLICT', 'the delivery claim is no longer held (settled already, or its lease lapsed and it was claimed again)', [
          { field: 'token', reason: 'unknown or superseded claim' },
        ]);
      }
      if (outcome.ok) {
        await t.q('UPDATE subscriptions SET cursor = pending_seq, delivered = delivered + 1, pending_seq = NULL, attempts = 0, next_attempt_ms = NULL, last_error = NULL, lease_token = NULL WHERE id = $1', [s.id]);
      } else if (retryAt !== null) {
        await t.q('UPDATE subscriptions SET next_attempt_ms = $1, last_error = $2, lease_token = NULL WHERE id = $3', [retryAt, String(outcome.error), s.id]);
      } else {
        await t.q(
          `INSERT INTO dead_letters (subscription_id, seq, event_id, attempts, last_error, at_ms)
           VALUES ($1, $2, COALESCE((SELECT id FROM events WHERE seq = $2), ''), $3, $4, $5)
           ON CONFLICT (subscription_id, seq) DO UPDATE SET event_id = EXCLUDED.event_id, attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error, at_ms = EXCLUDED.at_ms`,
          [s.id, s.pending_seq, s.attempts, String(outcome.error), t.now],
        );
        await t.q('UPDATE subscriptions SET cursor = pending_seq, pending_seq = NULL, attempts = 0, next_attempt_ms = NULL, last_error = NULL, lease_token = NULL WHERE id = $1', [s.id]);
      }
    });
  }

  // -------------------------------------------------------------------------------------------
  // Settings (cached, dropped by the change feed) and audit.

  private policyOf(row: PolicyRow): PolicyRecord {
    return frozen({ weights: { cost: row.cost, eco: row.eco, risk: row.risk, trust: row.trust }, generation: row.generation, updatedAt: row.updated_ms });
  }

  private defaultsOf(row: ConstraintsRow): ConstraintsRecord {
    return frozen({ constraints: { eco: row.eco, trust: row.trust, risk: row.risk, cost: row.cost }, generation: row.generation, updatedAt: row.updated_ms });
  }

  /** A cached setting: filled from the database unless the feed dropped the caches while it was being read. */
  private async cached<T>(get: () => T | undefined, load: (c: Queryable) => Promise<T>, put: (v: T) => void): Promise<T> {
    await this.refresh();
    const hit = get();
    if (hit !== undefined) return hit;
    const epoch = this.settingsEpoch;
    const v = await this.read(load);
    if (epoch === this.settingsEpoch) put(v);
    return v;
  }

  async policy(): Promise<PolicyRecord> {
    return this.cached(
      () => this.policyCache,
      async (c) => this.policyOf((await one<PolicyRow>(c, 'SELECT cost, eco, risk, trust, generation, updated_ms FROM policy WHERE id = 1'))!),
      (v) => (this.policyCache = v),
    );
  }

  async setPolicy(weights: Weights, actor: string, expectedGeneration?: number): Promise<PolicyRecord> {
    const w = validate.weights(weights);
    validate.id(actor, 'actor');
    validate.generation(expectedGeneration);
    return this.tx(async (t) => {
      const before = this.policyOf((await t.one<PolicyRow>('SELECT cost, eco, risk, trust, generation, updated_ms FROM policy WHERE id = 1 FOR UPDATE'))!);
      if (expectedGeneration !== undefined && expectedGeneration !== before.generation) throw generationConflict('the policy', expectedGeneration, before.generation);
      const after = this.policyOf(
        (await t.one<PolicyRow>('UPDATE policy SET cost = $1, eco = $2, risk = $3, trust = $4, generation = $5, updated_ms = $6 WHERE id = 1 RETURNING cost, eco, risk, trust, generation, updated_ms', [
          w.cost,
          w.eco,
          w.risk,
          w.trust,
          before.generation + 1,
          t.now,
        ]))!,
      );
      t.change('settings', 'policy');
      t.audit(actor, 'policy.set', 'policy', before, after);
      return after;
    });
  }

  async defaultConstraints(): Promise<ConstraintsRecord> {
    return this.cached(
      () => this.defaultsCache,
      async (c) => this.defaultsOf((await one<ConstraintsRow>(c, 'SELECT eco, trust, risk, cost, generation, updated_ms FROM default_constraints WHERE id = 1'))!),
      (v) => (this.defaultsCache = v),
    );
  }

  async setDefaultConstraints(constraints: TrecConstraints, actor: string, expectedGeneration?: number): Promise<ConstraintsRecord> {
    const k = validate.constraints(constraints);
    validate.id(actor, 'actor');
    validate.generation(expectedGeneration);
    return this.tx(async (t) => {
      const before = this.defaultsOf((await t.one<ConstraintsRow>('SELECT eco, trust, risk, cost, generation, updated_ms FROM default_constraints WHERE id = 1 FOR UPDATE'))!);
      if (expectedGeneration !== undefined && expectedGeneration !== before.generation) throw generationConflict('the default constraints', expectedGeneration, before.generation);
      const after = this.defaultsOf(
        (await t.one<ConstraintsRow>(
          'UPDATE default_constraints SET eco = $1, trust = $2, risk = $3, cost = $4, generation = $5, updated_ms = $6 WHERE id = 1 RETURNING eco, trust, risk, cost, generation, updated_ms',
          [k.eco, k.trust, k.risk, k.cost, before.generation + 1, t.now],
        ))!,
      );
      t.change('settings', 'defaults');
      t.audit(actor, 'constraints.default.set', 'constraints.default', before, after);
      return after;
    });
  }

  private async readOverride(serviceId: string): Promise<ServiceConstraintsRecord | undefined> {
    const v = await this.cached(
      () => this.overrides.get(serviceId),
      async (c) => {
        const row = await one<ServiceConstraintsRow>(c, 'SELECT * FROM service_constraints WHERE service_id = $1', [serviceId]);
        return row && !row.deleted ? frozen(serviceRecord(row)) : null;
      },
      (r) => {
        if (this.overrides.size >= MAX_CACHED_OVERRIDES) this.overrides.clear();
        this.overrides.set(serviceId, r);
      },
    );
    return v ?? undefined;
  }

  async serviceConstraints(serviceId: string): Promise<ServiceConstraintsRecord | undefined> {
    return this.readOverride(serviceId);
  }

  /** Inside a write: the override's row locked; a missing one is created as a tombstone of generation 0 first (so that concurrent creators wait for each other). */
  private async lockedOverride(t: Tx, serviceId: string): Promise<ServiceConstraintsRow> {
    await t.q('INSERT INTO service_constraints (service_id, deleted, generation, updated_ms) VALUES ($1, true, 0, $2) ON CONFLICT (service_id) DO NOTHING', [serviceId, t.now]);
    return (await t.one<ServiceConstraintsRow>('SELECT * FROM service_constraints WHERE service_id = $1 FOR UPDATE', [serviceId]))!;
  }

  async setServiceConstraints(serviceId: string, constraints: Partial<TrecConstraints>, actor: string, expectedGeneration?: number): Promise<ServiceConstraintsRecord> {
    validate.id(serviceId, 'serviceId');
    const k = validate.partialConstraints(constraints);
    validate.id(actor, 'actor');
    validate.generation(expectedGeneration);
    return this.tx(async (t) => {
      const row = await this.lockedOverride(t, serviceId);
      const current = !row.deleted ? row.generation : 0;
      if (expectedGeneration !== undefined && expectedGeneration !== current) throw generationConflict(`the constraints of service '${serviceId}'`, expectedGeneration, current);
      const next = row.generation + 1;
      const updated = (await t.one<ServiceConstraintsRow>(
        'UPDATE service_constraints SET eco = $2, trust = $3, risk = $4, cost = $5, deleted = false, generation = $6, updated_ms = $7 WHERE service_id = $1 RETURNING *',
        [serviceId, k.eco ?? null, k.trust ?? null, k.risk ?? null, k.cost ?? null, next, t.now],
      ))!;
      const after = serviceRecord(updated);
      t.change('settings', `service:${serviceId}`);
      t.audit(actor, 'constraints.service.set', serviceId, !row.deleted ? serviceRecord(row) : null, after);
      return after;
    });
  }

  async deleteServiceConstraints(serviceId: string, actor: string, expectedGeneration?: number): Promise<boolean> {
    validate.id(actor, 'actor');
    validate.generation(expectedGeneration);
    return this.tx(async (t) => {
      const row = await t.one<ServiceConstraintsRow>('SELECT * FROM service_constraints WHERE service_id = $1 FOR UPDATE', [serviceId]);
      if (!row || row.deleted) return false;
      if (expectedGeneration !== undefined && expectedGeneration !== row.generation) throw generationConflict(`the constraints of service '${serviceId}'`, expectedGeneration, row.generation);
      // A tombstone keeps the generation counting (a re-created override cannot match a pre-delete generation: ABA).
      await t.q('UPDATE service_constraints SET deleted = true, eco = NULL, trust = NULL, risk = NULL, cost = NULL, generation = $1, updated_ms = $2 WHERE service_id = $3', [
        row.generation + 1,
        t.now,
        serviceId,
      ]);
      t.change('settings', `service:${serviceId}`);
      t.audit(actor, 'constraints.service.deleted', serviceId, serviceRecord(row), null);
      return true;
    });
  }

  async effectiveConstraints(serviceId: string, fromManifest?: Partial<TrecConstraints>): Promise<EffectiveConstraints> {
    const manifest = fromManifest === undefined ? {} : validate.manifestConstraints(fromManifest);
    const base = (await this.defaultConstraints()).constraints;
    const override = (await this.readOverride(serviceId))?.constraints ?? {};
    const constraints: Record<string, number> = {};
    const sources: Record<string, ConstraintSource> = {};
    for (const k of BOUNDS) {
      const [value, source]: [number, ConstraintSource] =
        override[k] !== undefined ? [override[k], 'service'] : manifest[k] !== undefined ? [manifest[k], 'manifest'] : [base[k], 'default'];
      constraints[k] = value;
      sources[k] = source;
    }
    return { constraints: constraints as unknown as TrecConstraints, sources: sources as EffectiveConstraints['sources'] };
  }

  async audit(filter: AuditFilter = {}): Promise<readonly AuditRecord[]> {
    const limit = filter.limit ?? DEFAULT_PAGE;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw invalid('limit', `expected a whole number from 1 to ${MAX_PAGE}`);
    const p = new Params();
    const parts = [`seq > ${p.add(filter.after ?? 0)}`];
    if (filter.actor !== undefined) parts.push(`actor = ${p.add(filter.actor)}`);
    if (filter.action !== undefined) parts.push(`action = ${p.add(filter.action)}`);
    if (filter.subject !== undefined) parts.push(`subject = ${p.add(filter.subject)}`);
    if (filter.from !== undefined) parts.push(`at_ms >= ${p.add(validate.instant(filter.from, 'filter.from'))}`);
    if (filter.to !== undefined) parts.push(`at_ms < ${p.add(validate.instant(filter.to, 'filter.to'))}`);
    const rows = await this.read((c) =>
      q<{ seq: number; at_ms: number; actor: string; action: string; subject: string; before_json: string | null; after_json: string | null }>(
        c,
        `SELECT * FROM audit WHERE ${parts.join(' AND ')} ORDER BY seq LIMIT ${p.add(limit)}`,
        p.values,
      ),
    );
    return rows.map((r) => ({
      seq: r.seq,
      at: r.at_ms,
      actor: r.actor,
      action: r.action,
      subject: r.subject,
      before: r.before_json === null ? null : (JSON.parse(r.before_json) as unknown),
      after: r.after_json === null ? null : (JSON.parse(r.after_json) as unknown),
    }));
  }

  // -------------------------------------------------------------------------------------------
  // Decision log.

  /** One multi-row INSERT (a log, not an acknowledgement: the session's synchronous_commit is relaxed for it). */
  async recordDecisions(decisions: readonly DecisionInput[]): Promise<void> {
    validate.decisions(decisions);
    if (decisions.length === 0) return;
    const p = new Params();
    const rows = decisions.map(
      (d) =>
        `(${[d.id, d.at, d.requestId, d.owner, d.serviceId, d.admissionId, d.decision, d.dryRun, JSON.stringify(d.reasons), d.durationMs, JSON.stringify(d.detail ?? null)]
          .map((v) => p.add(v))
          .join(', ')})`,
    );
    await this.tx(async (t) => {
      await t.q('SET LOCAL synchronous_commit = off');
      await t.q(
        `INSERT INTO decisions (id, at_ms, request_id, owner, service_id, admission_id, decision, dry_run, reasons_json, duration_ms, detail_json) VALUES ${rows.join(', ')}`,
        p.values,
      );
    });
  }

  async decision(id: string): Promise<DecisionRecord | undefined> {
    const row = await this.read((c) => one<DecisionRow>(c, 'SELECT * FROM decisions WHERE id = $1', [id]));
    return row ? decisionOfRow(row) : undefined;
  }

  async decisions(filter: DecisionFilter, page: { readonly limit?: number; readonly cursor?: string } = {}): Promise<Page<DecisionRecord>> {
    const limit = page.limit ?? DEFAULT_PAGE;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw invalid('limit', `expected a whole number from 1 to ${MAX_PAGE}`);
    const p = new Params();
    const parts: string[] = [];
    for (const [key, column] of [['owner', 'owner'], ['serviceId', 'service_id'], ['admissionId', 'admission_id'], ['requestId', 'request_id'], ['decision', 'decision']] as const) {
      if (filter[key] !== undefined) parts.push(`${column} = ${p.add(filter[key])}`);
    }
    if (filter.from !== undefined) parts.push(`at_ms >= ${p.add(validate.instant(filter.from, 'filter.from'))}`);
    if (filter.to !== undefined) parts.push(`at_ms < ${p.add(validate.instant(filter.to, 'filter.to'))}`);
    if (page.cursor !== undefined) {
      const [at, id] = decodeCursor(page.cursor);
      parts.push(`(at_ms, id) > (${p.add(at)}, ${p.add(id)})`);
    }
    const where = parts.length > 0 ? `WHERE ${parts.join(' AND ')}` : '';
    const rows = await this.read((c) => q<DecisionRow>(c, `SELECT * FROM decisions ${where} ORDER BY at_ms, id LIMIT ${p.add(limit + 1)}`, p.values));
    const more = rows.length > limit;
    if (more) rows.pop();
    const last = rows[rows.length - 1];
    return { items: rows.map(decisionOfRow), nextCursor: more && last ? encodeCursor(Number(last.at_ms), last.id) : null };
  }

  // -------------------------------------------------------------------------------------------
  // Free-capacity thresholds.

  /** The fleet's free CPUs now (this replica's index, brought up to date) and its band. */
  private async freeBand(now: number): Promise<{ readonly band: number; readonly cpus: number; readonly freeCpus: number }> {
    const totals = (await this.capacity({ start: now, end: now + 1 })).totals;
    return { band: freeBandOf(this.thresholds, totals.cpus > 0 ? totals.freeCpus / totals.cpus : 0), cpus: totals.cpus, freeCpus: totals.freeCpus };
  }

  /** Read side of advance's quick check: a threshold was crossed since the band on the tail row. */
  private async bandChanged(c: Queryable, now: number): Promise<boolean> {
    if (this.thresholds.length === 0) return false;
    const stored = await one<{ b: number }>(c, 'SELECT free_capacity_band AS b FROM ledger_tail WHERE id = 1');
    return (await this.freeBand(now)).band !== (stored?.b ?? 0);
  }

  /** Inside advance's transaction: the band under the tail row's lock, so one replica records each crossing once. */
  private async recordBand(t: Tx, now: number): Promise<LedgerEvent | undefined> {
    if (this.thresholds.length === 0) return undefined;
    const stored = await t.one<{ b: number }>('SELECT free_capacity_band AS b FROM ledger_tail WHERE id = 1 FOR UPDATE');
    const before = stored?.b ?? 0;
    const f = await this.freeBand(now);
    if (f.band === before) return undefined;
    await t.q('UPDATE ledger_tail SET free_capacity_band = $1 WHERE id = 1', [f.band]);
    return t.event('capacity.changed', null, 'fleet', bandCrossing(this.thresholds, before, f.band, f), now);
  }

  async capabilityOverrides(): Promise<CapabilityOverrides> {
    const rows = await this.read((c) => q<HostCapabilityRow>(c, 'SELECT * FROM host_capabilities ORDER BY host_id'));
    const byHost = new Map(rows.map((r) => [r.host_id, frozen(capabilityOverrideOf(r))]));
    let version = 0;
    for (const o of byHost.values()) version += o.generation;
    return { version, byHost };
  }

  async setHostCapabilities(hostId: string, set: Readonly<Record<string, string | true | null>>, actor: string): Promise<HostCapabilityOverride> {
    validate.id(hostId, 'hostId');
    validate.id(actor, 'actor');
    return this.tx(async (t) => {
      // Created empty first, then locked: concurrent changes to one host wait for each other instead of racing the insert.
      await t.q("INSERT INTO host_capabilities (host_id, set_json, removed_json, generation, updated_ms) VALUES ($1, '{}', '[]', 0, $2) ON CONFLICT (host_id) DO NOTHING", [hostId, t.now]);
      const row = (await t.one<HostCapabilityRow>('SELECT * FROM host_capabilities WHERE host_id = $1 FOR UPDATE', [hostId]))!;
      const before = Number(row.generation) > 0 ? capabilityOverrideOf(row) : undefined;
      const next = changedCapabilities(before, set);
      const generation = Number(row.generation) + 1;
      await t.q('UPDATE host_capabilities SET set_json = $2, removed_json = $3, generation = $4, updated_ms = $5 WHERE host_id = $1', [
        hostId,
        JSON.stringify(next.set),
        JSON.stringify(next.removed),
        generation,
        t.now,
      ]);
      const after: HostCapabilityOverride = { hostId, set: next.set, removed: next.removed, generation, updatedAt: t.now };
      t.audit(actor, 'host.capabilities.set', hostId, before ?? null, after);
      t.event('host.capabilities.changed', null, hostId, { hostId, change: { ...set }, set: next.set, removed: next.removed, generation });
      return frozen(after);
    });
  }

  // -------------------------------------------------------------------------------------------
  // Charges (ledger/charges.ts): settled inside the transaction of the change that causes them.

  /** Appends what the admission's state costs it beyond its records (its row locked: one settlement at a time). */
  private async settleCharges(t: Tx, id: string, cause: 'confirm' | 'reschedule' | 'release' | 'advance'): Promise<LedgerEvent | undefined> {
    const row = await this.admissionRow(t.c, id, true);
    if (!row || row.charge_plan_json === null) return undefined;
    const now = t.now;
    const plan = JSON.parse(row.charge_plan_json) as ChargePlan;
    const record = admissionRecord(row, [], now);
    const net = new Map<string, number>();
    for (const r of await t.q<{ resource: string; micros: number }>('SELECT resource, SUM(amount_micros)::bigint AS micros FROM charges WHERE owner = $1 AND ref = $2 GROUP BY resource', [row.owner, id])) {
      net.set(r.resource, Number(r.micros) / MICROS);
    }
    const deltas = chargeDeltas(chargeTarget(plan, record, now), net);
    await t.q('UPDATE admissions SET charge_next_ms = $1 WHERE id = $2', [nextChargeAt(plan, record, now), id]);
    if (deltas.length === 0) return undefined;
    const written: ChargeRecord[] = [];
    for (const d of deltas) written.push(await this.appendCharge(t, row.owner, id, row.service_id, `${cause}:${row.generation}:${now}`, settlementKind(cause, d.amount), d.resource, d.amount, plan.currency));
    return t.event('charge.recorded', row.owner, id, {
      serviceId: row.service_id,
      cause,
      currency: plan.currency,
      total: money(written.reduce((sum, r) => sum + r.amount, 0)),
      records: written.map((r) => ({ id: r.id, kind: r.kind, resource: r.resource, amount: r.amount, key: r.key })),
    });
  }

  /** One record and its balance, in the caller's transaction; a key already recorded appends nothing. */
  private async appendCharge(t: Tx, owner: string, ref: string, serviceId: string | null, key: string, kind: ChargeKind, resource: string, amount: number, currency: string): Promise<ChargeRecord> {
    const id = `chg-${randomUUID()}`;
    const micros = Math.round(amount * MICROS);
    const inserted = await t.one<{ seq: number }>(
      `INSERT INTO charges (id, owner, ref, service_id, key, kind, resource, amount_micros, currency, at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (owner, ref, key, resource) DO NOTHING RETURNING seq`,
      [id, owner, ref, serviceId, key, kind, resource, micros, currency, t.now],
    );
    if (inserted) {
      await t.q(
        `INSERT INTO charge_balances (owner, currency, amount_micros, records) VALUES ($1, $2, $3, 1)
         ON CONFLICT (owner, currency) DO UPDATE SET amount_micros = charge_balances.amount_micros + excluded.amount_micros, records = charge_balances.records + 1`,
        [owner, currency, micros],
      );
    }
    return { seq: Number(inserted?.seq ?? 0), id, owner, admissionId: ref === '' ? null : ref, serviceId, key, kind, resource: resource === '' ? null : resource, amount, currency, at: t.now };
  }

  async charges(filter: ChargeFilter, page: { readonly limit?: number; readonly cursor?: string } = {}): Promise<Page<ChargeRecord>> {
    const limit = page.limit ?? DEFAULT_PAGE;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw invalid('limit', `expected a whole number from 1 to ${MAX_PAGE}`);
    const parts: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown): void => {
      params.push(value);
      parts.push(sql.replace('?', `$${params.length}`));
    };
    if (filter.owner !== undefined) add('owner = ?', filter.owner);
    if (filter.admissionId !== undefined) add('ref = ?', filter.admissionId);
    if (filter.from !== undefined) add('at_ms >= ?', validate.instant(filter.from, 'filter.from'));
    if (filter.to !== undefined) add('at_ms < ?', validate.instant(filter.to, 'filter.to'));
    if (page.cursor !== undefined) {
      const seq = Number(page.cursor);
      if (!Number.isSafeInteger(seq) || seq < 0) throw invalid('cursor', 'expected a cursor from an earlier page');
      add('seq > ?', seq);
    }
    params.push(limit + 1);
    const rows = await this.read((c) => q<ChargeRecordRow>(c, `SELECT * FROM charges ${parts.length > 0 ? `WHERE ${parts.join(' AND ')}` : ''} ORDER BY seq LIMIT $${params.length}`, params));
    const more = rows.length > limit;
    if (more) rows.pop();
    return { items: rows.map(chargeRecord), nextCursor: more ? String(rows[rows.length - 1]!.seq) : null };
  }

  async chargeBalance(owner: string): Promise<ChargeBalance | undefined> {
    const r = await this.read((c) => one<ChargeBalanceRow>(c, 'SELECT * FROM charge_balances WHERE owner = $1 ORDER BY currency LIMIT 1', [owner]));
    return r ? chargeBalance(r) : undefined;
  }

  async grantCredits(owner: string, periodKey: string, credits: number, currency: string): Promise<ChargeBalance> {
    validate.id(owner, 'owner');
    if (!Number.isFinite(credits) || credits < 0) throw invalid('credits', 'expected a number ≥ 0');
    return this.tx(async (t) => {
      // One grant at a time per owner, across replicas: the expiry reads the balance the grant then changes.
      await t.q('SELECT pg_advisory_xact_lock(hashtext($1))', [`eac-credits:${owner}`]);
      const key = `grant:${periodKey}`;
      if (!(await t.one("SELECT 1 FROM charges WHERE owner = $1 AND ref = '' AND key = $2", [owner, key]))) {
        const b = await t.one<{ amount_micros: number }>('SELECT amount_micros FROM charge_balances WHERE owner = $1 AND currency = $2', [owner, currency]);
        const balance = Number(b?.amount_micros ?? 0) / MICROS;
        if (balance > 0) await this.appendCharge(t, owner, '', null, `expire:${periodKey}`, 'expire', '', -balance, currency);
        await this.appendCharge(t, owner, '', null, key, 'grant', '', credits, currency);
      }
      return chargeBalance((await t.one<ChargeBalanceRow>('SELECT * FROM charge_balances WHERE owner = $1 AND currency = $2', [owner, currency]))!);
    });
  }

  // -------------------------------------------------------------------------------------------
  // Deployments (ledger/deployments.ts; the cloud calls are deploy/'s).

  private async deploymentRow(c: Queryable, admissionId: string, forUpdate = false): Promise<DeploymentRow | undefined> {
    return one<DeploymentRow>(c, `SELECT * FROM deployments WHERE admission_id = $1${forUpdate ? ' FOR UPDATE' : ''}`, [admissionId]);
  }

  async deployment(admissionId: string): Promise<DeploymentRecord | undefined> {
    validate.id(admissionId, 'admissionId');
    const row = await this.read((c) => this.deploymentRow(c, admissionId));
    return row && frozen(deploymentRecord(row));
  }

  async deployments(filter: DeploymentFilter): Promise<readonly DeploymentRecord[]> {
    const f = validateDeployment.filter(filter);
    const p = new Params();
    const parts: string[] = [];
    if (f.statuses) {
      if (f.statuses.length === 0) return [];
      parts.push(`d.status = ANY(${p.add([...f.statuses])}::text[])`);
    }
    if (f.dueBy !== undefined) parts.push(`d.not_before_ms <= ${p.add(f.dueBy)}::bigint`);
    // A deployment exists only once its admission was confirmed: a closed one has its status column closed too.
    if (f.admissionClosed) parts.push("a.status IN ('ended', 'released', 'expired')");
    const where = parts.length > 0 ? `WHERE ${parts.join(' AND ')}` : '';
    const rows = await this.read((c) =>
      q<DeploymentRow>(c, `SELECT d.* FROM deployments d JOIN admissions a ON a.id = d.admission_id ${where} ORDER BY d.not_before_ms, d.admission_id LIMIT ${p.add(f.limit)}`, p.values),
    );
    return rows.map((r) => frozen(deploymentRecord(r)));
  }

  async updateDeployment(
    admissionId: string,
    expectedGeneration: number,
    update: DeploymentUpdate,
    events: readonly { readonly type: EventType; readonly data: Readonly<Record<string, unknown>> }[] = [],
  ): Promise<DeploymentRecord> {
    validate.id(admissionId, 'admissionId');
    const u = validateDeployment.update(update);
    return this.tx(async (t) => {
      const row = await this.deploymentRow(t.c, admissionId, true);
      if (!row) throw notFound('deployment', admissionId);
      const before = deploymentRecord(row);
      if (before.generation !== expectedGeneration) throw generationConflict(`deployment of '${admissionId}'`, expectedGeneration, before.generation);
      const c = updatedColumns(before, u);
      const after = (await t.one<DeploymentRow>(
        `UPDATE deployments SET status = $2, vms_json = $3, attempts = $4, error = $5, lease_holder = $6, lease_until_ms = $7, not_before_ms = $8, generation = generation + 1, updated_ms = $9
         WHERE admission_id = $1 RETURNING *`,
        [admissionId, c.status, c.vmsJson, c.attempts, c.error, c.leaseHolder, c.leaseUntil, c.notBefore, t.now],
      ))!;
      for (const e of events) t.event(e.type, before.owner, admissionId, { ...e.data });
      return frozen(deploymentRecord(after));
    });
  }

  async loseDeploymentVm(admissionId: string, slot: string, reason: string, actor: string): Promise<{ readonly record: DeploymentRecord; readonly freed: HostAmount | null }> {
    validate.id(admissionId, 'admissionId');
    validateDeployment.slot(slot);
    validate.id(actor, 'actor');
    return this.tx(async (t) => {
      const now = t.now;
      // Lock order: the slot's host row, then the admission's row, then the deployment's. The slot's host is read
      // before the locks: when an update moved the slot meanwhile, its new host is locked too (rare).
      let hostId: string | undefined;
      let admission: AdmissionRow | undefined;
      let row: DeploymentRow | undefined;
      for (;;) {
        const seen = await this.deploymentRow(t.c, admissionId);
        if (!seen) throw notFound('deployment', admissionId);
        hostId = deploymentRecord(seen).vms.find((v) => v.slot === slot)?.hostId;
        await this.lockHosts(t, hostId === undefined ? [] : [hostId]);
        admission = await this.admissionRow(t.c, admissionId, true);
        row = await this.deploymentRow(t.c, admissionId, true);
        if (!row) throw notFound('deployment', admissionId);
        if (deploymentRecord(row).vms.find((v) => v.slot === slot)?.hostId === hostId) break;
      }
      const before = deploymentRecord(row);
      const holding = admission !== undefined && isHolding(admissionRecord(admission, [], now).status);
      const allocation = hostId === undefined ? undefined : (await this.allocations(t.c, admissionId)).find((a) => a.host_id === hostId);
      const lost = lostVm(before, slot, reason, holding && allocation ? { hostId: allocation.host_id, cpus: allocation.cpus, memoryMb: allocation.memory_mb } : undefined);
      if (!lost) throw notFound('deployment slot', `${admissionId}/${slot}`);
      if (lost.unchanged) return { record: frozen(before), freed: null };
      const freed = holding ? lost.freed : null;
      if (freed && allocation) {
        const cpus = allocation.cpus - freed.cpus;
        const memoryMb = allocation.memory_mb - freed.memoryMb;
        if (cpus <= EPSILON && memoryMb <= EPSILON) await t.q('DELETE FROM allocations WHERE admission_id = $1 AND host_id = $2', [admissionId, allocation.host_id]);
        else await t.q('UPDATE allocations SET cpus = $3, memory_mb = $4 WHERE admission_id = $1 AND host_id = $2', [admissionId, allocation.host_id, Math.max(0, cpus), Math.max(0, memoryMb)]);
        await t.q('UPDATE admissions SET generation = generation + 1 WHERE id = $1', [admissionId]);
        t.change('admission', admissionId);
        t.bumpHosts([allocation.host_id]);
      }
      const after = (await t.one<DeploymentRow>('UPDATE deployments SET vms_json = $2, generation = generation + 1, updated_ms = $3 WHERE admission_id = $1 RETURNING *', [
        admissionId,
        JSON.stringify(lost.vms),
        now,
      ]))!;
      t.event('deployment.vm_lost', before.owner, admissionId, { slot, componentId: lost.vm.componentId, hostId: lost.vm.hostId, ...(lost.vm.vmId !== undefined ? { vmId: lost.vm.vmId } : {}), reason: lost.reason, freed });
      t.audit(actor, 'deployment.vm_lost', admissionId, lost.vm, { ...lost.vm, state: 'lost', error: lost.reason });
      return { record: frozen(deploymentRecord(after)), freed };
    });
  }

  async ping(): Promise<void> {
    await this.read((c) => c.query('SELECT 1'));
  }

  /** Waits for the queued bookings to be written, then closes the pools. */
  async close(): Promise<void> {
    if (this.closed) return;
    while (this.flushing || this.flushScheduled || this.bookQueue.length > 0) {
      if (!this.flushing && this.bookQueue.length > 0) {
        void this.flushBooks();
        continue;
      }
      await new Promise<void>((r) => this.idleWaiters.push(r));
    }
    this.closed = true;
    await this.pullChain;
    await this.pool.end();
    await this.feed.end();
  }
}

/** The window check of capacity(), without zod (it is on the hot path). */
function quickWindow(w: TimeWindow): TimeWindow {
  if (
    w !== null &&
    typeof w === 'object' &&
    Number.isSafeInteger(w.start) &&
    (w.end === null || (Number.isSafeInteger(w.end) && (w.end as number) > w.start))
  ) {
    return w;
  }
  return validate.window(w);
}
